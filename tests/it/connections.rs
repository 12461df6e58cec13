//! Slack and Microsoft Teams connections: the OAuth flows against fake providers, the
//! state used once, PKCE, tokens sealed at rest and never listed, renewal before expiry,
//! and disconnecting.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::connections::{self, OAuthProvider};
use shared::tenancy::UserRole;
use sqlx::PgPool;
use tocsin_tests::TestApp;
use tower::ServiceExt;
use uuid::Uuid;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SLACK_ACCESS: &str = "xoxp-1111-2222-3333-secretaccess";
const SLACK_REFRESH: &str = "xoxe-1-secretrefresh";
const MS_ACCESS: &str = "eyJ0eXAiOiJKV1QiLCJub25jZSI6Im1zLWFjY2Vzcy10b2tlbiJ9.ms-access";
const MS_REFRESH: &str = "0.AAAA-ms-refresh-token";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// A test world whose providers are the two fake servers (Microsoft's login and Graph
/// on the same one).
async fn app_with(pool: PgPool, slack: &MockServer, microsoft: &MockServer) -> TestApp {
    let (slack_uri, microsoft_uri) = (slack.uri(), microsoft.uri());
    TestApp::with_config(pool, move |c| {
        c.slack_api_base_url = slack_uri;
        c.microsoft_login_base_url = microsoft_uri.clone();
        c.microsoft_graph_base_url = microsoft_uri;
    })
    .await
}

async fn admin_key(app: &TestApp) -> String {
    app.create_key(app.workspace_id, UserRole::Admin, &[])
        .await
        .key
}

/// A person and a key acting for them.
async fn person(app: &TestApp, admin: &str, email: &str) -> (Uuid, String) {
    let created = app
        .api(
            "POST",
            "/v1/users",
            Some(admin),
            Some(json!({"email": email, "display_name": "Someone", "role": "responder"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id: Uuid = created.body["id"].as_str().unwrap().parse().unwrap();
    let key = app.create_key_for_user(id, UserRole::Responder).await.key;
    (id, key)
}

/// Starts connecting; answers the authorize URL's query.
async fn start(app: &TestApp, user: Uuid, key: &str, provider: &str) -> HashMap<String, String> {
    let started = app
        .api(
            "POST",
            &format!("/v1/users/{user}/connections/{provider}"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    query_of(started.body["authorize_url"].as_str().unwrap())
}

fn query_of(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn form_of(request: &wiremock::Request) -> HashMap<String, String> {
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    serde_urlencoded::from_bytes(&request.body).unwrap()
}

/// What the fake server received at `at`.
async fn received(server: &MockServer, at: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .collect()
}

/// The browser coming back to the `actions` function: (status, page).
async fn callback(app: &TestApp, provider: &str, query: &str) -> (u16, String) {
    let response = shared::actions::router(app.state.clone())
        .oneshot(
            Request::get(format!("/v1/oauth/{provider}/callback?{query}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn id_token(tid: &str) -> String {
    let part = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.c2lnbmF0dXJl",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(json!({"tid": tid, "oid": "ms-object-id", "aud": "ms-client-id"}))
    )
}

async fn mock_slack_access(slack: &MockServer, slack_user: &str) {
    Mock::given(method("POST"))
        .and(path("/api/oauth.v2.access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "app_id": "A0KRD7HC3",
            "authed_user": {
                "id": slack_user,
                "scope": "users:read,chat:write",
                "access_token": SLACK_ACCESS,
                "token_type": "user",
                "refresh_token": SLACK_REFRESH,
                "expires_in": 43200
            },
            "team": {"id": "T0TEAM", "name": "Acme"},
            "enterprise": null,
            "is_enterprise_install": false
        })))
        .mount(slack)
        .await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn slack_connects_once_per_state_with_its_tokens_sealed(pool: PgPool) {
    let slack = MockServer::start().await;
    let microsoft = MockServer::start().await;
    let app = app_with(pool, &slack, &microsoft).await;
    let admin = admin_key(&app).await;
    let (ann, anns_key) = person(&app, &admin, "ann@example.com").await;
    mock_slack_access(&slack, "U0ANN").await;

    let query = start(&app, ann, &anns_key, "slack").await;
    assert_eq!(query["client_id"], "slack-client-id");
    assert_eq!(query["user_scope"], "users:read,chat:write");
    assert_eq!(
        query["redirect_uri"],
        "https://tocsin.example.com/v1/oauth/slack/callback"
    );
    assert!(!query.contains_key("code_challenge"), "Slack has no PKCE");
    let state = query["state"].clone();
    assert_eq!(state.len(), 43, "256 bits, base64url");
    // Only the state's hash is stored.
    let stored: Vec<String> = sqlx::query_scalar("SELECT t::text FROM oauth_state t")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&state), "{}", stored[0]);

    let (status, page) = callback(&app, "slack", &format!("code=slack-code-1&state={state}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Slack connected"), "{page}");
    let exchanges = received(&slack, "/api/oauth.v2.access").await;
    assert_eq!(exchanges.len(), 1);
    let form = form_of(&exchanges[0]);
    assert_eq!(form["client_id"], "slack-client-id");
    assert_eq!(form["client_secret"], "slack-client-secret");
    assert_eq!(form["code"], "slack-code-1");
    assert_eq!(
        form["redirect_uri"],
        "https://tocsin.example.com/v1/oauth/slack/callback"
    );

    let row: (Vec<u8>, Option<Vec<u8>>, String, String, bool) = sqlx::query_as(
        "SELECT access_token_ciphertext, refresh_token_ciphertext, slack_user_id,
                slack_team_id, is_active
         FROM slack_connection WHERE user_id = $1",
    )
    .bind(ann)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    let (access, refresh, slack_user, team, active) = row;
    assert_eq!(
        (slack_user.as_str(), team.as_str(), active),
        ("U0ANN", "T0TEAM", true)
    );
    let refresh = refresh.unwrap();
    assert!(!contains(&access, SLACK_ACCESS));
    assert!(!contains(&access, "xoxp-"));
    assert!(!contains(&refresh, SLACK_REFRESH));
    assert_eq!(
        app.state
            .cipher
            .open_text(&access, &format!("slack_connection:{ann}:access_token"))
            .unwrap(),
        SLACK_ACCESS
    );
    assert_eq!(
        app.state
            .cipher
            .open_text(&refresh, &format!("slack_connection:{ann}:refresh_token"))
            .unwrap(),
        SLACK_REFRESH
    );
    assert!(
        app.state
            .cipher
            .open_text(
                &access,
                &format!("slack_connection:{}:access_token", Uuid::new_v4())
            )
            .is_err(),
        "bound to its row"
    );
    assert_eq!(
        app.count(&format!(
            "slack_connection WHERE user_id = '{ann}'
             AND token_expires_at BETWEEN now() + interval '11 hours' AND now() + interval '13 hours'"
        ))
        .await,
        1
    );

    // The same state again (reuse), a made-up one (mismatch), none at all: refused, and
    // nothing more is asked of Slack or stored.
    let (status, page) = callback(&app, "slack", &format!("code=slack-code-2&state={state}")).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("This sign-in link is not valid"), "{page}");
    let made_up = shared::actions::magic::new_token();
    let (status, _) = callback(&app, "slack", &format!("code=slack-code-3&state={made_up}")).await;
    assert_eq!(status, 400);
    let (status, _) = callback(&app, "slack", "code=slack-code-4").await;
    assert_eq!(status, 400);
    let (status, _) = callback(&app, "slack", "code=slack-code-5&state=short").await;
    assert_eq!(status, 400);
    assert_eq!(received(&slack, "/api/oauth.v2.access").await.len(), 1);
    assert_eq!(app.count("slack_connection").await, 1);

    // An expired state is refused too.
    let expired = start(&app, ann, &anns_key, "slack").await["state"].clone();
    sqlx::query(
        "UPDATE oauth_state SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    )
    .execute(&app.state.db)
    .await
    .unwrap();
    let (status, _) = callback(&app, "slack", &format!("code=slack-code-6&state={expired}")).await;
    assert_eq!(status, 400);
    assert_eq!(received(&slack, "/api/oauth.v2.access").await.len(), 1);

    // The person declines: nothing connected, and the state is spent.
    let declined = start(&app, ann, &anns_key, "slack").await["state"].clone();
    let (status, page) = callback(
        &app,
        "slack",
        &format!("error=access_denied&state={declined}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Slack was not connected"), "{page}");
    let (status, _) = callback(&app, "slack", &format!("code=late&state={declined}")).await;
    assert_eq!(status, 400);

    // Listed, never with a token.
    let listed = app
        .api(
            "GET",
            &format!("/v1/users/{ann}/connections"),
            Some(&anns_key),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", listed.body);
    assert_eq!(items[0]["provider"], "slack");
    assert_eq!(items[0]["external_user_id"], "U0ANN");
    assert_eq!(items[0]["external_team_id"], "T0TEAM");
    assert_eq!(items[0]["is_active"], true);
    assert!(items[0]["token_expires_at"].is_string());
    assert_eq!(items[0]["last_used_at"], Value::Null);
    let text = listed.body.to_string();
    assert!(
        !text.contains(SLACK_ACCESS) && !text.contains(SLACK_REFRESH),
        "{text}"
    );
    assert!(!text.contains("ciphertext"), "{text}");

    // Using the connection opens the token and records the use.
    let token = connections::access_token(&app.state, ann, OAuthProvider::Slack)
        .await
        .unwrap();
    assert_eq!(token.as_deref(), Some(SLACK_ACCESS));
    assert_eq!(
        app.count(&format!(
            "slack_connection WHERE user_id = '{ann}' AND last_used_at IS NOT NULL"
        ))
        .await,
        1
    );

    // The same Slack account cannot be connected to a second person.
    let (bob, bobs_key) = person(&app, &admin, "bob@example.com").await;
    let bobs_state = start(&app, bob, &bobs_key, "slack").await["state"].clone();
    let (status, page) =
        callback(&app, "slack", &format!("code=bobs-code&state={bobs_state}")).await;
    assert_eq!(status, 409, "{page}");
    assert_eq!(app.count("slack_connection").await, 1);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn microsoft_connects_with_pkce_and_reads_who_signed_in(pool: PgPool) {
    let slack = MockServer::start().await;
    let microsoft = MockServer::start().await;
    let app = app_with(pool, &slack, &microsoft).await;
    let admin = admin_key(&app).await;
    let (ann, anns_key) = person(&app, &admin, "ann@example.com").await;
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer",
            "scope": "openid profile email User.Read",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": MS_ACCESS,
            "refresh_token": MS_REFRESH,
            "id_token": id_token(TENANT)
        })))
        .mount(&microsoft)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me"))
        .and(header(
            "authorization",
            format!("Bearer {MS_ACCESS}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "ms-object-id",
            "displayName": "Ann",
            "mail": null,
            "userPrincipalName": "ann@acme.onmicrosoft.com"
        })))
        .mount(&microsoft)
        .await;

    // A Slack state is no good for Microsoft's callback.
    let slack_state = start(&app, ann, &anns_key, "slack").await["state"].clone();
    let (status, _) = callback(&app, "microsoft", &format!("code=c&state={slack_state}")).await;
    assert_eq!(status, 400);

    let query = start(&app, ann, &anns_key, "microsoft").await;
    assert_eq!(query["client_id"], "ms-client-id");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["response_mode"], "query");
    assert_eq!(
        query["redirect_uri"],
        "https://tocsin.example.com/v1/oauth/microsoft/callback"
    );
    assert_eq!(
        query["scope"],
        "openid profile email offline_access User.Read"
    );
    assert_eq!(query["code_challenge_method"], "S256");
    let challenge = query["code_challenge"].clone();
    assert_eq!(challenge.len(), 43);
    let state = query["state"].clone();
    // The verifier is stored sealed, never in the clear.
    assert_eq!(
        app.count(
            "oauth_state WHERE provider = 'microsoft' AND code_verifier_ciphertext IS NOT NULL"
        )
        .await,
        1
    );

    let (status, page) = callback(
        &app,
        "microsoft",
        &format!("code=ms-code-1&state={state}&session_state=abc"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Microsoft Teams connected"), "{page}");

    let exchanges = received(&microsoft, "/organizations/oauth2/v2.0/token").await;
    assert_eq!(exchanges.len(), 1);
    let form = form_of(&exchanges[0]);
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "ms-code-1");
    assert_eq!(form["client_id"], "ms-client-id");
    assert_eq!(form["client_secret"], "ms-client-secret");
    assert_eq!(
        form["redirect_uri"],
        "https://tocsin.example.com/v1/oauth/microsoft/callback"
    );
    assert_eq!(
        form["scope"],
        "openid profile email offline_access User.Read"
    );
    let verifier = &form["code_verifier"];
    assert_eq!(verifier.len(), 43, "{verifier}");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        challenge,
        "the verifier answers the challenge"
    );
    assert_eq!(received(&microsoft, "/v1.0/me").await.len(), 1);

    let row: (Vec<u8>, Option<Vec<u8>>, String, String, Option<String>) = sqlx::query_as(
        "SELECT access_token_ciphertext, refresh_token_ciphertext, teams_user_id,
                teams_tenant_id, teams_email
         FROM teams_connection WHERE user_id = $1",
    )
    .bind(ann)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    let (access, refresh, teams_user, tenant, email) = row;
    assert_eq!(teams_user, "ms-object-id");
    assert_eq!(tenant, TENANT);
    assert_eq!(email.as_deref(), Some("ann@acme.onmicrosoft.com"));
    assert!(!contains(&access, MS_ACCESS));
    assert_eq!(
        app.state
            .cipher
            .open_text(&access, &format!("teams_connection:{ann}:access_token"))
            .unwrap(),
        MS_ACCESS
    );
    assert_eq!(
        app.state
            .cipher
            .open_text(
                &refresh.unwrap(),
                &format!("teams_connection:{ann}:refresh_token")
            )
            .unwrap(),
        MS_REFRESH
    );

    // Reusing the state is refused.
    let (status, _) = callback(&app, "microsoft", &format!("code=ms-code-2&state={state}")).await;
    assert_eq!(status, 400);
    assert_eq!(
        received(&microsoft, "/organizations/oauth2/v2.0/token")
            .await
            .len(),
        1
    );

    let listed = app
        .api(
            "GET",
            &format!("/v1/users/{ann}/connections"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["provider"], "microsoft");
    assert_eq!(listed.body["items"][0]["external_team_id"], TENANT);
    assert_eq!(listed.body["items"][0]["email"], "ann@acme.onmicrosoft.com");
    let text = listed.body.to_string();
    assert!(
        !text.contains(MS_ACCESS) && !text.contains(MS_REFRESH),
        "{text}"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_refused_code_is_a_502_page(pool: PgPool) {
    let slack = MockServer::start().await;
    let microsoft = MockServer::start().await;
    let app = app_with(pool, &slack, &microsoft).await;
    let admin = admin_key(&app).await;
    let (ann, anns_key) = person(&app, &admin, "ann@example.com").await;
    Mock::given(method("POST"))
        .and(path("/api/oauth.v2.access"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "invalid_code"})),
        )
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.\r\nTrace ID: 1\r\nCorrelation ID: 2",
            "error_codes": [70008]
        })))
        .mount(&microsoft)
        .await;

    let state = start(&app, ann, &anns_key, "slack").await["state"].clone();
    let (status, page) = callback(&app, "slack", &format!("code=bad&state={state}")).await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("invalid_code"), "{page}");
    let state = start(&app, ann, &anns_key, "microsoft").await["state"].clone();
    let (status, page) = callback(&app, "microsoft", &format!("code=bad&state={state}")).await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("AADSTS70008"), "{page}");
    assert!(!page.contains("Trace ID"), "{page}");
    assert_eq!(app.count("slack_connection").await, 0);
    assert_eq!(app.count("teams_connection").await, 0);
    app.cleanup().await;
}

/// Stores a connection directly, its token expiring in `minutes`.
async fn stored(
    app: &TestApp,
    provider: OAuthProvider,
    user: Uuid,
    access: &str,
    refresh: &str,
    minutes: i32,
) {
    let table = match provider {
        OAuthProvider::Slack => "slack_connection",
        OAuthProvider::Microsoft => "teams_connection",
    };
    let columns = match provider {
        OAuthProvider::Slack => "slack_user_id, slack_team_id",
        OAuthProvider::Microsoft => "teams_user_id, teams_tenant_id",
    };
    let sql = format!(
        "INSERT INTO {table} (user_id, access_token_ciphertext, refresh_token_ciphertext,
                              token_expires_at, {columns})
         VALUES ($1, $2, $3, now() + make_interval(mins => $4), $5, 'T0')"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .bind(app.state.cipher.seal(
            access.as_bytes(),
            &connections::token_context(provider, user, "access_token"),
        ))
        .bind(app.state.cipher.seal(
            refresh.as_bytes(),
            &connections::token_context(provider, user, "refresh_token"),
        ))
        .bind(minutes)
        .bind(format!("X-{user}"))
        .execute(&app.state.db)
        .await
        .unwrap();
}

/// The opened tokens and activity of a connection.
async fn tokens(app: &TestApp, provider: OAuthProvider, user: Uuid) -> (String, String, bool) {
    let table = match provider {
        OAuthProvider::Slack => "slack_connection",
        OAuthProvider::Microsoft => "teams_connection",
    };
    let sql = format!(
        "SELECT access_token_ciphertext, refresh_token_ciphertext, is_active
         FROM {table} WHERE user_id = $1"
    );
    let (access, refresh, active): (Vec<u8>, Vec<u8>, bool) =
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let open = |sealed: &[u8], which: &str| {
        app.state
            .cipher
            .open_text(sealed, &connections::token_context(provider, user, which))
            .unwrap()
    };
    (
        open(&access, "access_token"),
        open(&refresh, "refresh_token"),
        active,
    )
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn expiring_tokens_are_renewed_and_refused_refresh_tokens_deactivate(pool: PgPool) {
    let slack = MockServer::start().await;
    let microsoft = MockServer::start().await;
    let app = app_with(pool, &slack, &microsoft).await;
    let admin = admin_key(&app).await;
    let (ann, _) = person(&app, &admin, "ann@example.com").await;
    let (bob, _) = person(&app, &admin, "bob@example.com").await;
    let (carl, _) = person(&app, &admin, "carl@example.com").await;
    let (dana, _) = person(&app, &admin, "dana@example.com").await;
    let (eve, _) = person(&app, &admin, "eve@example.com").await;
    // Expiring within the ten minutes: ann and bob at Microsoft, carl and dana at Slack.
    stored(
        &app,
        OAuthProvider::Microsoft,
        ann,
        "ann-access-one",
        "ann-refresh-one",
        1,
    )
    .await;
    stored(
        &app,
        OAuthProvider::Microsoft,
        bob,
        "bob-access-one",
        "bob-refresh-one",
        1,
    )
    .await;
    stored(
        &app,
        OAuthProvider::Slack,
        carl,
        "xoxe.xoxp-carl-one",
        "xoxe-1-carl-one",
        1,
    )
    .await;
    stored(
        &app,
        OAuthProvider::Slack,
        dana,
        "xoxe.xoxp-dana-one",
        "xoxe-1-dana-one",
        1,
    )
    .await;
    // Fresh for two hours: left alone.
    stored(
        &app,
        OAuthProvider::Microsoft,
        eve,
        "eve-access-one",
        "eve-refresh-one",
        120,
    )
    .await;
    let carl_before: Vec<u8> = sqlx::query_scalar(
        "SELECT access_token_ciphertext FROM slack_connection WHERE user_id = $1",
    )
    .bind(carl)
    .fetch_one(&app.state.db)
    .await
    .unwrap();

    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .and(body_string_contains("refresh_token=ann-refresh-one"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3599,
            "access_token": "ann-access-two", "refresh_token": "ann-refresh-two"
        })))
        .mount(&microsoft)
        .await;
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .and(body_string_contains("refresh_token=bob-refresh-one"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "AADSTS50173: The provided grant has expired due to it being revoked."
        })))
        .mount(&microsoft)
        .await;
    // Slack answers a user token's refresh at the top level.
    Mock::given(method("POST"))
        .and(path("/api/oauth.v2.access"))
        .and(body_string_contains("refresh_token=xoxe-1-carl-one"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "app_id": "A0KRD7HC3", "token_type": "user",
            "access_token": "xoxe.xoxp-carl-two", "refresh_token": "xoxe-1-carl-two",
            "expires_in": 43200, "team": {"id": "T0"}
        })))
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/oauth.v2.access"))
        .and(body_string_contains("refresh_token=xoxe-1-dana-one"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "invalid_refresh_token"})),
        )
        .mount(&slack)
        .await;

    let renewed = connections::refresh_expiring(&app.state, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(renewed, 2);

    let to_microsoft = received(&microsoft, "/organizations/oauth2/v2.0/token").await;
    assert_eq!(to_microsoft.len(), 2, "ann and bob, not eve");
    for request in &to_microsoft {
        let form = form_of(request);
        assert_eq!(form["grant_type"], "refresh_token");
        assert_eq!(form["client_id"], "ms-client-id");
        assert_eq!(form["client_secret"], "ms-client-secret");
        assert!(form["scope"].contains("offline_access"));
    }
    let to_slack = received(&slack, "/api/oauth.v2.access").await;
    assert_eq!(to_slack.len(), 2, "carl and dana");
    for request in &to_slack {
        let form = form_of(request);
        assert_eq!(form["grant_type"], "refresh_token");
        assert_eq!(form["client_id"], "slack-client-id");
        assert_eq!(form["client_secret"], "slack-client-secret");
    }

    assert_eq!(
        tokens(&app, OAuthProvider::Microsoft, ann).await,
        (
            "ann-access-two".to_owned(),
            "ann-refresh-two".to_owned(),
            true
        )
    );
    assert_eq!(
        tokens(&app, OAuthProvider::Slack, carl).await,
        (
            "xoxe.xoxp-carl-two".to_owned(),
            "xoxe-1-carl-two".to_owned(),
            true
        )
    );
    let carl_after: Vec<u8> = sqlx::query_scalar(
        "SELECT access_token_ciphertext FROM slack_connection WHERE user_id = $1",
    )
    .bind(carl)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_ne!(carl_before, carl_after, "the stored ciphertext changed");
    assert_eq!(
        app.count(&format!(
            "teams_connection WHERE user_id = '{ann}' AND token_expires_at > now() + interval '50 minutes'"
        ))
        .await,
        1
    );
    // Refused refresh tokens: inactive, and no token is handed out.
    assert!(!tokens(&app, OAuthProvider::Microsoft, bob).await.2);
    assert!(!tokens(&app, OAuthProvider::Slack, dana).await.2);
    assert_eq!(
        connections::access_token(&app.state, bob, OAuthProvider::Microsoft)
            .await
            .unwrap(),
        None
    );
    // Untouched.
    assert_eq!(
        tokens(&app, OAuthProvider::Microsoft, eve).await,
        (
            "eve-access-one".to_owned(),
            "eve-refresh-one".to_owned(),
            true
        )
    );

    // A second run finds nothing to do.
    assert_eq!(
        connections::refresh_expiring(&app.state, chrono::Utc::now())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        received(&microsoft, "/organizations/oauth2/v2.0/token")
            .await
            .len(),
        2
    );

    // A token used within five minutes of expiring is renewed first.
    sqlx::query(
        "UPDATE teams_connection SET token_expires_at = now() + interval '3 minutes'
         WHERE user_id = $1",
    )
    .bind(ann)
    .execute(&app.state.db)
    .await
    .unwrap();
    Mock::given(method("POST"))
        .and(path("/organizations/oauth2/v2.0/token"))
        .and(body_string_contains("refresh_token=ann-refresh-two"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3599,
            "access_token": "ann-access-three", "refresh_token": "ann-refresh-three"
        })))
        .mount(&microsoft)
        .await;
    assert_eq!(
        connections::access_token(&app.state, ann, OAuthProvider::Microsoft)
            .await
            .unwrap()
            .as_deref(),
        Some("ann-access-three")
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn only_the_person_connects_and_disconnecting_removes_the_row(pool: PgPool) {
    let slack = MockServer::start().await;
    let microsoft = MockServer::start().await;
    let app = app_with(pool, &slack, &microsoft).await;
    let admin = admin_key(&app).await;
    let (ann, anns_key) = person(&app, &admin, "ann@example.com").await;
    let (_bob, bobs_key) = person(&app, &admin, "bob@example.com").await;
    Mock::given(method("POST"))
        .and(path("/api/auth.revoke"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "revoked": true})),
        )
        .mount(&slack)
        .await;

    // Not even an admin connects someone else's account; nor does another person.
    for key in [&admin, &bobs_key] {
        let refused = app
            .api(
                "POST",
                &format!("/v1/users/{ann}/connections/slack"),
                Some(key),
                None,
            )
            .await;
        assert_eq!(refused.status, 403, "{}", refused.body);
    }
    let unknown = app
        .api(
            "POST",
            &format!("/v1/users/{ann}/connections/discord"),
            Some(&anns_key),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let (status, _) = callback(&app, "discord", "code=c&state=s").await;
    assert_eq!(status, 404);
    assert_eq!(app.count("oauth_state").await, 0);

    stored(
        &app,
        OAuthProvider::Slack,
        ann,
        "xoxp-ann",
        "xoxe-1-ann",
        600,
    )
    .await;
    stored(
        &app,
        OAuthProvider::Microsoft,
        ann,
        "ms-ann",
        "ms-refresh-ann",
        60,
    )
    .await;
    let path_of = |provider: &str| format!("/v1/users/{ann}/connections/{provider}");

    // Another person (a responder: users:read, not users:write) sees but cannot remove.
    let listed = app
        .api(
            "GET",
            &format!("/v1/users/{ann}/connections"),
            Some(&bobs_key),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let refused = app
        .api("DELETE", &path_of("slack"), Some(&bobs_key), None)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // The person removes theirs; Slack is asked to revoke the token.
    let removed = app
        .api("DELETE", &path_of("slack"), Some(&anns_key), None)
        .await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert_eq!(app.count("slack_connection").await, 0);
    let revokes = received(&slack, "/api/auth.revoke").await;
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].headers["authorization"], "Bearer xoxp-ann");
    let again = app
        .api("DELETE", &path_of("slack"), Some(&anns_key), None)
        .await;
    assert_eq!(again.status, 404, "{}", again.body);

    // An admin (users:write) removes anyone's.
    let removed = app
        .api("DELETE", &path_of("microsoft"), Some(&admin), None)
        .await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert_eq!(app.count("teams_connection").await, 0);
    let listed = app
        .api(
            "GET",
            &format!("/v1/users/{ann}/connections"),
            Some(&anns_key),
            None,
        )
        .await;
    assert_eq!(listed.body["items"], json!([]));

    // Someone who is not a person of this workspace is not found.
    let nobody = format!("/v1/users/{}/connections", Uuid::new_v4());
    assert_eq!(
        app.api("GET", &nobody, Some(&admin), None).await.status,
        404
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn without_client_credentials_connecting_is_not_implemented(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| {
        c.slack_client_secret = None;
        c.microsoft_client_id = None;
    })
    .await;
    let admin = admin_key(&app).await;
    let (ann, anns_key) = person(&app, &admin, "ann@example.com").await;
    for provider in ["slack", "microsoft"] {
        let refused = app
            .api(
                "POST",
                &format!("/v1/users/{ann}/connections/{provider}"),
                Some(&anns_key),
                None,
            )
            .await;
        assert_eq!(refused.status, 501, "{}", refused.body);
    }
    assert_eq!(app.count("oauth_state").await, 0);
    app.cleanup().await;
}
