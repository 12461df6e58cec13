//! Configuration and the AWS resources, through the real SDK against the local endpoint.

use std::collections::HashMap;

use shared::config::{Config, ConfigError};
use tocsin_local::bootstrap::{self, Names};
use tocsin_tests::local_sdk_config;
use uuid::Uuid;

fn lookup(vars: &HashMap<&str, String>) -> impl Fn(&str) -> Option<String> {
    move |name| vars.get(name).cloned()
}

#[tokio::test]
async fn the_database_url_is_read_from_secrets_manager_by_name() {
    use secrecy::ExposeSecret;
    let sdk_config = local_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config);
    let name = format!("tocsin/test-{}/database-url", Uuid::new_v4().simple());
    bootstrap::put_secret(&secrets, &name, "postgres://u:p@db.internal:5432/tocsin")
        .await
        .unwrap();
    let vars = HashMap::from([
        ("DATABASE_URL_SECRET_ID", name.clone()),
        ("NOTIFICATIONS_QUEUE_URL", "http://queue".to_owned()),
        ("DATA_BUCKET", "bucket".to_owned()),
        ("NOTIFY_MAX_ATTEMPTS", "7".to_owned()),
        ("ENCRYPTION_KEY", "k".repeat(40)),
    ]);
    let config = Config::from_lookup(lookup(&vars), &secrets).await.unwrap();
    assert_eq!(
        config.database_url.expose_secret(),
        "postgres://u:p@db.internal:5432/tocsin"
    );
    assert_eq!(config.notify_max_attempts, 7);
    assert_eq!(config.ingest_max_body_bytes, 512 * 1024, "defaults apply");
    assert!(
        !format!("{config:?}").contains("u:p@"),
        "the URL never prints"
    );
}

#[tokio::test]
async fn a_missing_or_bad_setting_is_named_and_a_missing_secret_fails_fast() {
    let sdk_config = local_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config);
    let mut vars = HashMap::from([
        ("DATABASE_URL", "postgres://localhost/x".to_owned()),
        ("DATA_BUCKET", "bucket".to_owned()),
        ("ENCRYPTION_KEY", "k".repeat(40)),
    ]);
    let error = Config::from_lookup(lookup(&vars), &secrets)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConfigError::Missing("NOTIFICATIONS_QUEUE_URL")),
        "{error}"
    );

    vars.insert("NOTIFICATIONS_QUEUE_URL", "http://queue".to_owned());
    vars.insert("NOTIFY_MAX_ATTEMPTS", "many".to_owned());
    let error = Config::from_lookup(lookup(&vars), &secrets)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "environment variable NOTIFY_MAX_ATTEMPTS is invalid: invalid digit found in string"
    );

    vars.remove("DATABASE_URL");
    vars.remove("NOTIFY_MAX_ATTEMPTS");
    vars.insert("DATABASE_URL_SECRET_ID", "tocsin/no-such-secret".to_owned());
    let error = Config::from_lookup(lookup(&vars), &secrets)
        .await
        .unwrap_err();
    assert!(matches!(error, ConfigError::Secret { .. }), "{error}");
}

#[tokio::test]
async fn bootstrap_creates_the_resources_and_can_run_again() {
    let sdk_config = local_sdk_config().await;
    let stage = format!("t{}", &Uuid::new_v4().simple().to_string()[..12]);
    let names = Names::for_stage(&stage, "123456789012");
    let first = bootstrap::bootstrap(&sdk_config, &names, "postgres://one")
        .await
        .unwrap();
    let second = bootstrap::bootstrap(&sdk_config, &names, "postgres://two")
        .await
        .unwrap();
    assert_eq!(first.notifications.url, second.notifications.url);
    assert!(
        first
            .notifications
            .url
            .ends_with(&format!("/tocsin-{stage}-notifications"))
    );

    let sqs = aws_sdk_sqs::Client::new(&sdk_config);
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&second.notifications.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let redrive: serde_json::Value =
        serde_json::from_str(&attributes[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy])
            .unwrap();
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("tocsin-{stage}-notifications-dlq"))
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "10"
    );

    let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config);
    let value = secrets
        .get_secret_value()
        .secret_id(&names.database_url_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(
        value.secret_string(),
        Some("postgres://two"),
        "a rerun updates the secret"
    );
    shared::aws::s3_client(&sdk_config)
        .head_bucket()
        .bucket(&names.data_bucket)
        .send()
        .await
        .unwrap();
    for url in [&first.notifications.url, &first.notifications.dlq_url] {
        sqs.delete_queue().queue_url(url).send().await.unwrap();
    }
}

#[test]
fn the_local_resource_names_are_the_ones_template_yaml_declares() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let names = Names::for_stage("${Stage}", "${AWS::AccountId}");
    for name in [
        &names.notifications_queue,
        &names.notifications_dlq,
        &names.data_bucket,
        &names.database_url_secret,
        &names.encryption_key_secret,
    ] {
        assert!(
            template.contains(&format!("!Sub {name}\n")),
            "template.yaml lacks {name}"
        );
    }
    assert!(template.contains(&format!(
        "maxReceiveCount: {}",
        bootstrap::MAX_RECEIVE_COUNT
    )));
    assert!(template.contains(&format!(
        "VisibilityTimeout: {}",
        bootstrap::VISIBILITY_TIMEOUT_SECONDS
    )));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_ingest_endpoint_has_an_api_gateway_route_in_template_yaml(pool: sqlx::PgPool) {
    let app = tocsin_tests::TestApp::new(pool).await;
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let document = app.api("GET", "/v1/openapi.json", None, None).await.body;
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            if operation["tags"][0] != "ingest" {
                continue;
            }
            let route = format!(
                "Method: {}\n            Path: {path}\n",
                method.to_uppercase()
            );
            assert!(
                template.contains(&route),
                "template.yaml lacks {method} {path}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6, "the ingest endpoints documented");
    app.cleanup().await;
}
