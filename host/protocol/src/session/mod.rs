//! The authorization-session API: the headless login and consent model.
//!
//! A login front-end turns an authentication request into a session, then answers the prompts
//! the provider gives back until the final response:
//!
//! ```text
//!   start ──▶ [hook: started] ──▶ usable SSO session? ──no──▶ prompt `auth`
//!                                        │yes                      │ subject
//!                                        ▼                         ▼
//!                               [hook: authenticated] ◀────────────┘
//!                                        │
//!                   consent policy / remembered consent cover it? ──no──▶ prompt `consent`
//!                                        │yes                              │ consent
//!                                        ▼                                 ▼
//!                               [hook: before response] ◀──────────────────┘
//!                                        │
//!                                        ▼
//!                          prompt `response` (session closed)
//! ```
//!
//! Errors that cannot be trusted to the client's redirect URI end in prompt `error`. A denial
//! (`DELETE`) ends in `response` with the error. Every prompt echoes the front-end's `data`.
//!
//! One file per step: [`start`], [`subject`] (authentication and what follows it),
//! [`consent`] (the consent and the grant it makes), [`issue`] (the code, and the tokens of
//! implicit and hybrid responses), [`data`] (reading a session and its
//! `data`), [`sso`] (subject sessions and their credentials), [`hooks`], [`record`] (how a
//! session is kept: compare-and-swap on its version, bounds), [`input`] (what the front-end
//! sends, and its bounds) and [`respond`] (the prompts).

mod consent;
mod data;
mod hooks;
mod input;
mod issue;
mod record;
mod respond;
mod sso;
mod start;
mod subject;

use serde::{Deserialize, Serialize};

pub use input::{ConsentInput, DenyInput, Selection, StartInput, SubjectInput};
pub use respond::{ClientSummary, Prompt, SsoToken, SubjectSummary};

use crate::model::{AuthorizationRequest, JsonObject, SubjectSession};
use crate::plugins::Reconfirm;
use crate::world::UnixTime;

/// Where an authorization session stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for the front-end to authenticate the user.
    Auth,
    /// The user is known; waiting for consent. `reconfirm` holds what the consent policy
    /// asked to show as new again.
    Consent {
        subject: Box<SubjectSession>,
        #[serde(default, skip_serializing_if = "Reconfirm::is_empty")]
        reconfirm: Reconfirm,
    },
}

/// What a login hook asked of the authentication step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthDirective {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// An external identity provider the front-end should send the user to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}

/// One pass of an end-user through login and consent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthzSession {
    pub sid: String,
    /// The incarnation of the client the request was validated for: the session ends if the
    /// client is deleted (and perhaps registered again) meanwhile.
    #[serde(default)]
    pub client_incarnation: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub request: AuthorizationRequest,
    #[serde(flatten)]
    pub stage: Stage,
    #[serde(default)]
    pub data: JsonObject,
    #[serde(default)]
    pub directive: AuthDirective,
    /// The stored version this copy was read or written at; `None` while the session has
    /// never been stored (a session answered at once never is).
    #[serde(skip)]
    version: Option<u64>,
}

/// The consent a request may be answered from: long-lived, or given in this subject session.
#[derive(Clone, Debug)]
struct Previous {
    record: crate::model::ConsentRecord,
    long_lived: bool,
}

/// Who answers a consent: the front-end is held to what was requested; a policy plugin is
/// trimmed to it.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Grantor {
    FrontEnd,
    Policy,
}
