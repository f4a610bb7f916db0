// A claims source that derives profile claims from what the login front-end knows.
//
// Login front-ends often hold raw attributes (from a directory, a form, an upstream IdP) but
// not OpenID Connect's standard claims. This plugin builds claims from the session claims the
// front-end gave when it authenticated the subject, with templates: `{given_name}` is replaced
// by that session claim; a template whose placeholders are not all known gives no value.
// `locale` is the first of the request's `claims_locales` among `locales`, else the first of
// `locales`.
//
//   [config]
//   locales = ["en-GB", "fr-FR"]
//   [config.templates]
//   name = "{given_name} {family_name}"
//   preferred_username = "{uid}"
//   profile = "https://people.example.com/{uid}"

import { PluginError, claimsSource, config, log } from './gatehouse.js';

const PLACEHOLDER = /\{([A-Za-z0-9_.:-]+)\}/g;

function settings() {
  const { templates = {}, locales = [] } = config();
  if (typeof templates !== 'object' || !Array.isArray(locales)) {
    log.error('config.templates must be a table and config.locales a list');
    throw new PluginError('server_error', 'the plugin is misconfigured');
  }
  return { templates, locales };
}

function fill(template, values) {
  let complete = true;
  const text = template.replace(PLACEHOLDER, (_, name) => {
    const value = values[name];
    if (typeof value !== 'string' && typeof value !== 'number') {
      complete = false;
      return '';
    }
    return String(value);
  });
  return complete ? text : undefined;
}

export const claims = claimsSource({
  suppliedClaims() {
    const { templates, locales } = settings();
    return [...Object.keys(templates), ...(locales.length > 0 ? ['locale'] : [])];
  },

  claims(query) {
    const { templates, locales } = settings();
    const out = {};
    for (const name of query.claims) {
      if (name === 'locale' && locales.length > 0) {
        out.locale = query.locales.find((l) => locales.includes(l)) ?? locales[0];
      } else if (name in templates) {
        const value = fill(templates[name], query.sessionClaims);
        if (value !== undefined) {
          out[name] = value;
        }
      }
    }
    return out;
  },
});
