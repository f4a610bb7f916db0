//! The consent, and the authorization response it leads to: the grant, the code, a
//! remembered consent. Also the denial, the other way a session ends.

use super::hooks::Next;
use super::input::{MAX_DESCRIPTION, data_object};
use super::{AuthzSession, ConsentInput, DenyInput, Grantor, Prompt, SsoToken, Stage};
use crate::authorize::RedirectTarget;
use crate::claims;
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::logged::Logged;
use crate::model::{
    AuthorizationRequest, CODES, CONSENTS, Client, CodeRecord, ConsentRecord, GRANTS, Grant, SubjectSession, UseState,
};
use crate::plugins::{HookStage, Split};
use crate::provider::Provider;
use crate::secret::TokenHash;

impl Provider {
    /// Submits the consent for a session waiting for it.
    pub async fn submit_consent(&self, sid: &str, input: ConsentInput) -> Result<Prompt, ApiError> {
        let limits = &self.settings().limits;
        input.check(limits)?;
        let data = data_object(input.data.clone(), limits.session_data_bytes)?;
        let mut session = self.load(sid, self.now()).await?;
        let Stage::Consent { subject, .. } = session.stage.clone() else {
            return Err(ApiError::Conflict(
                "the session is waiting for the user to authenticate, not for consent".into(),
            ));
        };
        if let Some(data) = data {
            session.data = data;
        }
        let client = self.session_client(&session).await?;
        self.finish(session, *subject, &client, input, Grantor::FrontEnd, None).await
    }

    /// Ends a session with an error for the client (`access_denied` unless named).
    pub async fn deny(&self, sid: &str, input: DenyInput) -> Result<Prompt, ApiError> {
        let code = match input.error.as_deref() {
            None => ErrorCode::AccessDenied,
            Some(c) => ErrorCode::parse(c).ok_or_else(|| {
                ApiError::BadRequest(format!("{} is not an OAuth error code", Logged::at_most(c, 64)))
            })?,
        };
        let description =
            input.error_description.unwrap_or_else(|| "the user or the login service denied the request".into());
        // RFC 6749 §4.1.2.1: error_description is limited to printable ASCII other than `"` and `\`.
        if description.len() > MAX_DESCRIPTION
            || !description.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(ApiError::BadRequest(format!(
                "error_description must be at most {MAX_DESCRIPTION} printable ASCII characters other than \" and \\"
            )));
        }
        let session = self.load(sid, self.now()).await?;
        self.close_with_error(session, &OAuthError::new(code, description)).await
    }

    /// Requested scopes and claims, split by what the subject consented to before, and that
    /// consent if it was given to this incarnation of the client.
    pub(super) async fn consent_split(
        &self,
        request: &AuthorizationRequest,
        sub: &str,
        client: &Client,
    ) -> Result<(Split, Split, Option<ConsentRecord>), ApiError> {
        let key = ConsentRecord::key(sub, &request.client_id);
        let previous = match CONSENTS.get(self.store(), &key, self.now()).await? {
            Some(c) if c.client_incarnation == client.incarnation => Some(c),
            Some(_) => {
                // Given to a client since deleted: it is worth nothing, so let it go.
                CONSENTS.delete(self.store(), &key, self.now()).await?;
                None
            }
            None => None,
        };
        let split = |requested: Vec<String>, before: &[String]| {
            let (consented, new) = requested.into_iter().partition(|s| before.contains(s));
            Split { new, consented }
        };
        let (scope_before, claims_before) = match &previous {
            Some(p) => (p.scope.as_slice(), p.claims.as_slice()),
            None => (&[][..], &[][..]),
        };
        let scope = split(request.scope.clone(), scope_before);
        let claims = split(claims::requested_claims(request), claims_before);
        Ok((scope, claims, previous))
    }

    /// Issues the authorization response for a consented session and closes the session.
    /// Everything that can refuse the consent is checked before the session is closed, so a
    /// refused consent leaves the session waiting for another.
    pub(super) async fn finish(
        &self,
        mut session: AuthzSession,
        subject: SubjectSession,
        client: &Client,
        consent: ConsentInput,
        grantor: Grantor,
        sso: Option<SsoToken>,
    ) -> Result<Prompt, ApiError> {
        if grantor == Grantor::Policy
            && let Err(e) = consent.check(&self.settings().limits)
        {
            let e = OAuthError::server_error(format_args!("the consent policy's grant is out of bounds: {e}"));
            return self.close_with_error(session, &e).await;
        }
        let request = session.request.clone();
        let requested_claims = claims::requested_claims(&request);
        let mut scope = consent.scope.resolve(&request.scope);
        let mut granted_claims = match &consent.claims {
            Some(sel) => sel.resolve(&requested_claims),
            None => {
                let mut c = claims::claims_of_scopes(&scope);
                for n in claims::claims_parameter_names(&request) {
                    claims::push_unique(&mut c, &n);
                }
                c
            }
        };
        match grantor {
            Grantor::FrontEnd => {
                if let Some(s) = scope.iter().find(|s| !request.scope.contains(s)) {
                    return Err(ApiError::BadRequest(format!("scope {s:?} was not requested")));
                }
                if let Some(c) = granted_claims.iter().find(|c| !requested_claims.contains(c)) {
                    return Err(ApiError::BadRequest(format!("claim {c:?} was not requested")));
                }
            }
            Grantor::Policy => {
                scope.retain(|s| request.scope.contains(s));
                granted_claims.retain(|c| requested_claims.contains(c));
            }
        }
        match self.run_hook(HookStage::BeforeResponse, &mut session, Some(&subject)).await {
            Next::Continue => {}
            Next::Authenticate => return self.reauthenticate(session, client).await,
            Next::Answer(prompt) => return *prompt,
        }
        // Exactly one caller closes a session, from the version it read: concurrent consents
        // cannot issue two codes, and a consent never completes from a stale copy.
        self.close(&session).await?;
        let now = self.now();
        if consent.long_lived {
            self.remember_consent(&subject, client, &request, &scope, &granted_claims, &consent).await?;
        }
        let lifetimes = &self.settings().lifetimes;
        let access_token_lifetime = consent.access_token.lifetime.unwrap_or(lifetimes.access_token);
        let refresh_token_lifetime =
            consent.refresh_token.issue.then(|| consent.refresh_token.lifetime.unwrap_or(lifetimes.refresh_token));
        let id_token_claims: Vec<String> =
            claims::id_token_claim_names(&request).into_iter().filter(|c| granted_claims.contains(c)).collect();
        let userinfo_claims: Vec<String> =
            claims::userinfo_claim_names(&request).into_iter().filter(|c| granted_claims.contains(c)).collect();
        let grant = Grant {
            id: self.new_id(),
            client_id: client.client_id.clone(),
            client_incarnation: client.incarnation.clone(),
            sub: subject.sub.clone(),
            scope,
            claims: granted_claims,
            id_token_claims,
            userinfo_claims: Some(userinfo_claims),
            claims_locales: request.claims_locales.clone(),
            preset_claims: consent.preset_claims,
            session_claims: subject.claims.clone(),
            data: session.data.clone(),
            auth_time: subject.auth_time,
            acr: subject.acr.clone(),
            amr: subject.amr.clone(),
            sid: Some(subject.sid.clone()),
            audience: consent.audience,
            access_token_lifetime,
            id_token_lifetime: consent.id_token.lifetime.unwrap_or(lifetimes.id_token),
            refresh_token_lifetime,
            created_at: now,
            revoked: false,
        };
        let longest = access_token_lifetime.max(refresh_token_lifetime.unwrap_or(0));
        let grant_expiry = now.plus(lifetimes.code.saturating_add(longest));
        GRANTS.put(self.store(), &grant.id, &grant, Some(grant_expiry)).await?;
        let code = self.new_token();
        let record = CodeRecord {
            grant_id: grant.id.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: request.redirect_uri.as_str().to_owned(),
            redirect_uri_given: request.redirect_uri_given,
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            state: UseState::Issued,
        };
        CODES.put(self.store(), TokenHash::of(&code).as_str(), &record, Some(now.plus(lifetimes.code))).await?;
        let to = RedirectTarget::of(&request);
        Ok(self.response(Some(session.sid), &to, vec![("code", code)], sso, session.data))
    }

    /// Keeps a long-lived consent: what was granted now, plus what was granted before and not
    /// asked for this time.
    async fn remember_consent(
        &self,
        subject: &SubjectSession,
        client: &Client,
        request: &AuthorizationRequest,
        scope: &[String],
        granted_claims: &[String],
        consent: &ConsentInput,
    ) -> Result<(), ApiError> {
        let now = self.now();
        let key = ConsentRecord::key(&subject.sub, &client.client_id);
        let previous =
            CONSENTS.get(self.store(), &key, now).await?.filter(|p| p.client_incarnation == client.incarnation);
        let keep = |before: Option<&Vec<String>>, requested: &[String], granted: &[String]| {
            let mut out: Vec<String> =
                before.into_iter().flatten().filter(|s| !requested.contains(s)).cloned().collect();
            for g in granted {
                claims::push_unique(&mut out, g);
            }
            out
        };
        let requested_claims = claims::requested_claims(request);
        let record = ConsentRecord {
            sub: subject.sub.clone(),
            client_id: client.client_id.clone(),
            client_incarnation: client.incarnation.clone(),
            scope: keep(previous.as_ref().map(|p| &p.scope), &request.scope, scope),
            claims: keep(previous.as_ref().map(|p| &p.claims), &requested_claims, granted_claims),
            preset_claims: consent.preset_claims.clone(),
            access_token: consent.access_token.clone(),
            id_token: consent.id_token.clone(),
            refresh_token: consent.refresh_token.clone(),
            audience: consent.audience.clone(),
            updated_at: now,
        };
        Ok(CONSENTS.put(self.store(), &key, &record, None).await?)
    }
}
