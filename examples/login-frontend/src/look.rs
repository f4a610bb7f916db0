//! How the login and consent pages are shown to this user: in the first language of the
//! request's `ui_locales` this front-end speaks, and laid out for its `display` (OpenID
//! Connect Core §3.1.2.1). Both are hints: anything unknown falls back to English on a page.

use crate::api::AuthRequest;

/// The languages the pages are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Fr,
    De,
}

impl Lang {
    /// The first of `ui_locales` (BCP 47 tags, in order of preference) that is spoken here,
    /// matched on the primary language subtag (`fr-CA` is French).
    pub fn preferred(ui_locales: &[String]) -> Self {
        ui_locales
            .iter()
            .find_map(|tag| match tag.split('-').next().unwrap_or_default().to_ascii_lowercase().as_str() {
                "en" => Some(Lang::En),
                "fr" => Some(Lang::Fr),
                "de" => Some(Lang::De),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The `lang` attribute of the page.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::De => "de",
        }
    }
}

/// How the RP displays the page (`display`): a full page, a popup window, a touch device.
/// `wap` is shown as `page`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Display {
    #[default]
    Page,
    Popup,
    Touch,
}

impl Display {
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("popup") => Display::Popup,
            Some("touch") => Display::Touch,
            _ => Display::Page,
        }
    }

    /// The class of the page's `body`, which the style sheet lays out.
    pub fn class(self) -> &'static str {
        match self {
            Display::Page => "display-page",
            Display::Popup => "display-popup",
            Display::Touch => "display-touch",
        }
    }
}

/// A page's language and display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Look {
    pub lang: Lang,
    pub display: Display,
}

impl Look {
    pub fn of(request: &AuthRequest) -> Self {
        Look { lang: Lang::preferred(&request.ui_locales), display: Display::parse(request.display.as_deref()) }
    }

    /// The words of the login and consent pages.
    pub fn text(self, key: Text) -> &'static str {
        use Lang::*;
        use Text::*;
        match (key, self.lang) {
            (SignIn, En) => "Sign in",
            (SignIn, Fr) => "Se connecter",
            (SignIn, De) => "Anmelden",
            (ToContinueTo, En) => "to continue to ",
            (ToContinueTo, Fr) => "pour continuer vers ",
            (ToContinueTo, De) => "weiter zu ",
            (Username, En) => "Username",
            (Username, Fr) => "Nom d’utilisateur",
            (Username, De) => "Benutzername",
            (Password, En) => "Password",
            (Password, Fr) => "Mot de passe",
            (Password, De) => "Passwort",
            (PrivacyPolicy, En) => "Privacy policy",
            (PrivacyPolicy, Fr) => "Politique de confidentialité",
            (PrivacyPolicy, De) => "Datenschutzerklärung",
            (TermsOfService, En) => "Terms of service",
            (TermsOfService, Fr) => "Conditions d’utilisation",
            (TermsOfService, De) => "Nutzungsbedingungen",
            (AllowAccess, En) => "Allow access",
            (AllowAccess, Fr) => "Autoriser l’accès",
            (AllowAccess, De) => "Zugriff erlauben",
            (SignedInAs, En) => "Signed in as ",
            (SignedInAs, Fr) => "Connecté en tant que ",
            (SignedInAs, De) => "Angemeldet als ",
            (WouldLikeTo, En) => " would like to:",
            (WouldLikeTo, Fr) => " souhaite :",
            (WouldLikeTo, De) => " möchte:",
            (ReadDetails, En) => "and read these details:",
            (ReadDetails, Fr) => "et lire ces informations :",
            (ReadDetails, De) => "und diese Angaben lesen:",
            (AtResources, En) => "at these services:",
            (AtResources, Fr) => "auprès de ces services :",
            (AtResources, De) => "bei diesen Diensten:",
            (Remember, En) => "Remember this decision",
            (Remember, Fr) => "Se souvenir de ce choix",
            (Remember, De) => "Diese Entscheidung merken",
            (Allow, En) => "Allow",
            (Allow, Fr) => "Autoriser",
            (Allow, De) => "Erlauben",
            (Deny, En) => "Deny",
            (Deny, Fr) => "Refuser",
            (Deny, De) => "Ablehnen",
        }
    }
}

/// The words `Look::text` knows.
#[derive(Clone, Copy, Debug)]
pub enum Text {
    SignIn,
    ToContinueTo,
    Username,
    Password,
    PrivacyPolicy,
    TermsOfService,
    AllowAccess,
    SignedInAs,
    WouldLikeTo,
    ReadDetails,
    AtResources,
    Remember,
    Allow,
    Deny,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_spoken_locale_wins_and_unknown_ones_fall_back_to_english() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Lang::preferred(&tags(&["ja", "fr-CA", "de"])), Lang::Fr);
        assert_eq!(Lang::preferred(&tags(&["DE-at"])), Lang::De);
        assert_eq!(Lang::preferred(&tags(&["ja", "zh"])), Lang::En);
        assert_eq!(Lang::preferred(&[]), Lang::En);
        assert_eq!(Display::parse(Some("touch")), Display::Touch);
        assert_eq!(Display::parse(Some("wap")), Display::Page);
    }
}
