//! A browser for end-to-end tests of HTML pages: it keeps cookies, follows redirects by hand
//! (recording every URL on the way) and submits forms with the values a browser would send.

use std::sync::Arc;

use openidconnect::reqwest;
use reqwest::StatusCode;
use reqwest::cookie::CookieStore;
use scraper::{Html, Selector};
use serde_json::Value;
use url::Url;

/// A page the browser ended on, after following redirects.
pub struct Page {
    pub url: Url,
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    /// Every URL requested on the way, the first one included.
    pub visited: Vec<Url>,
}

impl Page {
    pub fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }

    pub fn has(&self, selector: &str) -> bool {
        self.html().select(&Selector::parse(selector).unwrap()).next().is_some()
    }

    pub fn text(&self, selector: &str) -> String {
        let html = self.html();
        let found = html.select(&Selector::parse(selector).unwrap()).next();
        found.unwrap_or_else(|| panic!("no {selector} on {}:\n{}", self.url, self.body)).text().collect()
    }

    pub fn json(&self, selector: &str) -> Value {
        serde_json::from_str(&self.text(selector)).unwrap()
    }

    /// The form whose `action` is `action`, with the values a browser would submit.
    pub fn form(&self, action: &str) -> Form {
        let html = self.html();
        let form = html
            .select(&Selector::parse(&format!(r#"form[action="{action}"]"#)).unwrap())
            .next()
            .unwrap_or_else(|| panic!("no form {action:?} on {}:\n{}", self.url, self.body));
        let mut fields = Vec::new();
        for input in form.select(&Selector::parse("input").unwrap()) {
            let el = input.value();
            let (Some(name), kind) = (el.attr("name"), el.attr("type").unwrap_or("text")) else { continue };
            let value = el.attr("value").unwrap_or("").to_owned();
            match kind {
                "checkbox" | "radio" if el.attr("checked").is_none() => {}
                "submit" | "button" => {}
                _ => fields.push((name.to_owned(), value)),
            }
        }
        Form { url: self.url.join(action).unwrap(), fields }
    }
}

pub struct Form {
    pub url: Url,
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.fields.retain(|(n, _)| n != name);
        self.fields.push((name.into(), value.into()));
        self
    }

    pub fn get(&self, name: &str) -> &str {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

/// A browser: keeps cookies, follows redirects by hand.
pub struct Browser {
    http: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
}

impl Browser {
    pub fn new() -> Browser {
        Browser::with_headers(reqwest::header::HeaderMap::new())
    }

    /// A browser that sends `headers` with every request (as a proxy in front of it would).
    pub fn with_headers(headers: reqwest::header::HeaderMap) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser { http, jar }
    }

    pub async fn get(&self, url: &Url) -> Page {
        self.follow(self.http.get(url.clone()), url.clone()).await
    }

    pub async fn submit(&self, form: Form) -> Page {
        let url = form.url.clone();
        self.follow(self.http.post(form.url).form(&form.fields), url).await
    }

    async fn follow(&self, first: reqwest::RequestBuilder, mut url: Url) -> Page {
        let mut visited = vec![url.clone()];
        let mut response = first.send().await.unwrap();
        for _ in 0..10 {
            if !response.status().is_redirection() {
                break;
            }
            let location = response.headers()[reqwest::header::LOCATION].to_str().unwrap().to_owned();
            url = url.join(&location).unwrap();
            visited.push(url.clone());
            response = self.http.get(url.clone()).send().await.unwrap();
        }
        let (status, headers) = (response.status(), response.headers().clone());
        Page { url, status, headers, body: response.text().await.unwrap(), visited }
    }

    pub fn cookies(&self, url: &Url) -> String {
        self.jar.cookies(url).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }
}
