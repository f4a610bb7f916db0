//! The consent, and the authorization response it leads to: the grant, a remembered
//! consent, the response (`issue.rs`). Also the denial, the other way a session ends.

use super::hooks::Next;
use super::input::{MAX_DESCRIPTION, data_object};
use super::{AuthzSession, ConsentInput, DenyInput, Grantor, Previous, Prompt, SsoToken, Stage};
use crate::authorize::RedirectTarget;
use crate::claims;
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::logged::Logged;
use crate::model::{
    AuthorizationRequest, CONSENTS, Client, ConsentRecord, GRANTS, Grant, SESSION_CONSENTS, SubjectSession,
};
use crate::plugins::{HookStage, Split};
use crate::provider::Provider;
use crate::store::Collection;

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
    /// consent if it was given to this incarnation of the client: the long-lived consent, or
    /// the one given in this subject session when it covers more of the request.
    pub(super) async fn consent_split(
        &self,
        request: &AuthorizationRequest,
        subject: &SubjectSession,
        client: &Client,
    ) -> Result<(Split, Split, Option<Previous>), ApiError> {
        let (lasting_key, session_key) =
            (ConsentRecord::key(&subject.sub, &client.client_id), ConsentRecord::key(&subject.sid, &client.client_id));
        let lasting = self.current_consent(&CONSENTS, &lasting_key, client).await?;
        let in_session = self.current_consent(&SESSION_CONSENTS, &session_key, client).await?;
        let requested_claims = claims::requested_claims(request);
        let uncovered = |r: &ConsentRecord| {
            request.scope.iter().filter(|s| !r.scope.contains(s)).count()
                + requested_claims.iter().filter(|c| !r.claims.contains(c)).count()
        };
        let previous = match (lasting, in_session) {
            (Some(l), Some(s)) if uncovered(&s) < uncovered(&l) => Some(Previous { record: s, long_lived: false }),
            (Some(l), _) => Some(Previous { record: l, long_lived: true }),
            (None, s) => s.map(|record| Previous { record, long_lived: false }),
        };
        let split = |requested: Vec<String>, before: &[String]| {
            let (consented, new) = requested.into_iter().partition(|s| before.contains(s));
            Split { new, consented }
        };
        let (scope_before, claims_before) = match &previous {
            Some(p) => (p.record.scope.as_slice(), p.record.claims.as_slice()),
            None => (&[][..], &[][..]),
        };
        let scope = split(request.scope.clone(), scope_before);
        let claims = split(requested_claims, claims_before);
        Ok((scope, claims, previous))
    }

    /// The consent stored under `key`, if it was given to this incarnation of the client.
    async fn current_consent(
        &self,
        collection: &Collection<ConsentRecord>,
        key: &str,
        client: &Client,
    ) -> Result<Option<ConsentRecord>, ApiError> {
        Ok(match collection.get(self.store(), key, self.now()).await? {
            Some(c) if c.client_incarnation == client.incarnation => Some(c),
            Some(_) => {
                // Given to a client since deleted: it is worth nothing, so let it go.
                collection.delete(self.store(), key, self.now()).await?;
                None
            }
            None => None,
        })
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
        self.remember_consent(&subject, client, &request, &scope, &granted_claims, &consent).await?;
        let lifetimes = &self.settings().lifetimes;
        let access_token_lifetime = consent.access_token.lifetime.unwrap_or(lifetimes.access_token);
        let refresh_token_lifetime =
            consent.refresh_token.issue.then(|| consent.refresh_token.lifetime.unwrap_or(lifetimes.refresh_token));
        // Core §5.4: without an access token (`response_type=id_token`) there is no UserInfo
        // call, so every granted claim goes in the ID token.
        let id_token_claims: Vec<String> = if request.response_type().token || request.response_type().code {
            claims::id_token_claim_names(&request).into_iter().filter(|c| granted_claims.contains(c)).collect()
        } else {
            granted_claims.clone()
        };
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
            resources: request.resources.clone(),
            access_token_lifetime,
            id_token_lifetime: consent.id_token.lifetime.unwrap_or(lifetimes.id_token),
            refresh_token_lifetime,
            created_at: now,
            revoked: false,
        };
        let longest = access_token_lifetime.max(refresh_token_lifetime.unwrap_or(0));
        let grant_expiry = now.plus(lifetimes.code.saturating_add(longest));
        GRANTS.put(self.store(), &grant.id, &grant, Some(grant_expiry)).await?;
        let to = RedirectTarget::of(&request);
        match self.authorization_response(client, &grant, &request).await {
            Ok(params) => Ok(self.response(Some(session.sid), &to, params, sso, session.data)),
            Err(e) => Ok(self.error_response(Some(session.sid), &to, &e, session.data)),
        }
    }

    /// Keeps the consent: what was granted now, plus what was granted before and not asked for
    /// this time. A long-lived consent is kept per subject and client; any other for the rest
    /// of the subject session (as `prompt=none` in the same single sign-on session expects),
    /// and it ends with that session.
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
        let (collection, key, expires_at) = if consent.long_lived {
            (&CONSENTS, ConsentRecord::key(&subject.sub, &client.client_id), None)
        } else {
            (&SESSION_CONSENTS, ConsentRecord::key(&subject.sid, &client.client_id), Some(subject.expires_at))
        };
        let previous =
            collection.get(self.store(), &key, now).await?.filter(|p| p.client_incarnation == client.incarnation);
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
            resources: keep(previous.as_ref().map(|p| &p.resources), &request.resources, &request.resources),
            updated_at: now,
        };
        Ok(collection.put(self.store(), &key, &record, expires_at).await?)
    }
}
