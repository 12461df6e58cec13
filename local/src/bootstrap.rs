//! Creates the AWS resources `template.yaml` declares, with the same names, on whatever
//! endpoint the SDK is configured for (`AWS_ENDPOINT_URL`). Safe to run again.

use anyhow::Context;
use aws_sdk_sqs::types::QueueAttributeName;

/// Receives before SQS moves a message to the DLQ; matches `template.yaml`.
pub const MAX_RECEIVE_COUNT: u32 = 10;
/// The notifications queue's visibility timeout, in seconds; matches `template.yaml`.
pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 180;

/// The resource names for one stage, as `template.yaml` builds them.
#[derive(Debug, Clone)]
pub struct Names {
    pub notifications_queue: String,
    pub notifications_dlq: String,
    pub data_bucket: String,
    pub database_url_secret: String,
    pub encryption_key_secret: String,
}

impl Names {
    /// Names for `stage` in `account`.
    pub fn for_stage(stage: &str, account: &str) -> Self {
        Self {
            notifications_queue: format!("tocsin-{stage}-notifications"),
            notifications_dlq: format!("tocsin-{stage}-notifications-dlq"),
            data_bucket: format!("tocsin-{stage}-{account}-data"),
            database_url_secret: format!("tocsin/{stage}/database-url"),
            encryption_key_secret: format!("tocsin/{stage}/encryption-key"),
        }
    }
}

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct QueuePair {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
}

/// Creates (or finds) `name` and `dlq_name`, with a redrive policy sending a message to
/// the DLQ after `max_receive_count` receives.
pub async fn create_queue_pair(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    dlq_name: &str,
    max_receive_count: u32,
    visibility_timeout_seconds: u32,
) -> anyhow::Result<QueuePair> {
    let dlq_url = sqs
        .create_queue()
        .queue_name(dlq_name)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .with_context(|| format!("creating queue {dlq_name}"))?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count.to_string(),
    });
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_seconds.to_string(),
        )
        .send()
        .await
        .with_context(|| format!("creating queue {name}"))?
        .queue_url
        .context("CreateQueue returned no URL")?;
    // Set separately so a queue that already exists gets the policy too.
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_seconds.to_string(),
        )
        .send()
        .await
        .with_context(|| format!("setting the redrive policy of {name}"))?;
    let arn = queue_arn(sqs, &url).await?;
    Ok(QueuePair { url, arn, dlq_url })
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .with_context(|| format!("reading the attributes of {url}"))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("the queue has no ARN")
}

/// Creates `bucket` unless it exists.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    match s3.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(error)
            if error.as_service_error().is_some_and(|e| {
                e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
            }) =>
        {
            Ok(())
        }
        Err(error) => Err(error).with_context(|| format!("creating bucket {bucket}")),
    }
}

/// Stores `value` as the secret `name`, creating it or replacing its value.
pub async fn put_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> anyhow::Result<()> {
    let created = secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            secrets
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .with_context(|| format!("updating secret {name}"))?;
            Ok(())
        }
        Err(error) => Err(error).with_context(|| format!("creating secret {name}")),
    }
}

/// Creates the secret `name` with a random 64-character value unless it exists. Never
/// replaced: the values encrypted with it would no longer open.
pub async fn create_random_secret_if_missing(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> anyhow::Result<()> {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let created = secrets
        .create_secret()
        .name(name)
        .secret_string(hex::encode(bytes))
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(error).with_context(|| format!("creating secret {name}")),
    }
}

/// What bootstrapping created, as the environment the functions read.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub notifications: QueuePair,
    pub data_bucket: String,
    pub database_url_secret: String,
    pub encryption_key_secret: String,
}

impl Bootstrapped {
    /// `NAME=value` lines for the functions' environment.
    pub fn env_lines(&self) -> String {
        format!(
            "NOTIFICATIONS_QUEUE_URL={}\nNOTIFICATIONS_DLQ_URL={}\nDATA_BUCKET={}\nDATABASE_URL_SECRET_ID={}\nENCRYPTION_KEY_SECRET_ID={}\n",
            self.notifications.url,
            self.notifications.dlq_url,
            self.data_bucket,
            self.database_url_secret,
            self.encryption_key_secret
        )
    }
}

/// Creates every resource of `names`; stores `database_url` in the database secret.
pub async fn bootstrap(
    sdk_config: &aws_config::SdkConfig,
    names: &Names,
    database_url: &str,
) -> anyhow::Result<Bootstrapped> {
    let sqs = aws_sdk_sqs::Client::new(sdk_config);
    let notifications = create_queue_pair(
        &sqs,
        &names.notifications_queue,
        &names.notifications_dlq,
        MAX_RECEIVE_COUNT,
        VISIBILITY_TIMEOUT_SECONDS,
    )
    .await?;
    create_bucket(&shared::aws::s3_client(sdk_config), &names.data_bucket).await?;
    let secrets = aws_sdk_secretsmanager::Client::new(sdk_config);
    put_secret(&secrets, &names.database_url_secret, database_url).await?;
    create_random_secret_if_missing(&secrets, &names.encryption_key_secret).await?;
    Ok(Bootstrapped {
        notifications,
        data_bucket: names.data_bucket.clone(),
        database_url_secret: names.database_url_secret.clone(),
        encryption_key_secret: names.encryption_key_secret.clone(),
    })
}
