//! AWS SDK clients. The endpoint comes from the SDK's own configuration chain, so
//! `AWS_ENDPOINT_URL` points every client at a local AWS endpoint without the code knowing.

/// Loads the shared SDK configuration (region, credentials, endpoint) from the environment.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// An S3 client. Path-style addressing is used when a custom endpoint is set, because a
/// local endpoint cannot resolve `bucket.localhost` style host names.
pub fn s3_client(sdk_config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk_config)
        .force_path_style(sdk_config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
