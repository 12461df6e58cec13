//! The small HTML pages a magic link shows: a confirmation with one button, and the
//! outcome. Never cached, never sent with a Referer (the token is in the URL), never
//! framed, no scripts.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::notify::email::escape_html;

/// A page with the headers every magic-link page carries.
pub fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title} · Tocsin</title>\
         <style>body{{font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em}}\
         button{{font-size:1.1em;padding:.6em 1.4em}}</style></head>\
         <body><h1>{title}</h1>{body_html}</body></html>",
        title = escape_html(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The confirmation page: says what the button does; the form posts back to the link.
pub fn confirm(action_label: &str, incident_title: &str, token: &str) -> Response {
    page(
        StatusCode::OK,
        &format!("{action_label} this incident?"),
        &format!(
            "<p><strong>{}</strong></p>\
             <form method=\"post\" action=\"/a/{token}\"><button type=\"submit\">{}</button></form>\
             <p>Nothing happens until you press the button.</p>",
            escape_html(incident_title),
            escape_html(action_label),
        ),
    )
}

/// A page that only says something.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(status, title, &format!("<p>{}</p>", escape_html(text)))
}
