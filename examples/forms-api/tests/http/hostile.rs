//! Hostile input gets a 4xx, never a 500 and never a dropped connection:
//! oversized headers and tokens, hosts that are not UTF-8, ids with quotes,
//! NUL and invalid percent-encoding.

use forms_api::tokens::{hs256, tenant_claims};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{problem, Server, SECRET};

/// Sends `request` as it is over TCP; the status code of the answer.
async fn raw_status(server: &Server, request: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer).await.expect("read");
        assert!(n > 0, "the server closed the connection without an answer");
        answer.extend_from_slice(&buffer[..n]);
    }
    let line = String::from_utf8_lossy(&answer);
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line")
}

#[tokio::test]
async fn hostile_requests_get_client_errors() {
    let server = Server::start_with(&["alpha", "it's"], |s| {
        s.base_domain = Some("forms.test".into())
    })
    .await;
    let alpha = server.token("alpha");

    // An Authorization header far beyond what the server buffers.
    let huge = format!("Bearer {}", "a".repeat(1 << 20));
    let response = server
        .client
        .get(format!("{}/forms", server.base))
        .header("authorization", huge)
        .send()
        .await;
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "{}", response.status());
    } // else: the server closed the connection on the oversized head, which is a refusal too

    // A token over the verifier's limit but within the server's.
    let big = hs256(SECRET, &{
        let mut claims = tenant_claims("alpha", std::time::Duration::from_secs(600));
        claims["padding"] = json!("x".repeat(12 * 1024));
        claims
    })
    .unwrap();
    let (status, kind, body) = problem(server.get("/forms", &big).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid-token"),
        "{body}"
    );

    // Ids with quotes, NUL, control characters and SQL in the token.
    let (status, _, _) = problem(
        server
            .get("/forms", &server.token("x'; DROP TABLE forms; --"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, kind, _) = problem(server.get("/forms", &server.token("a\u{0}b")).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::BAD_REQUEST, "invalid-tenant-id")
    );
    let (status, kind, _) = problem(server.get("/forms", &server.token("")).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::BAD_REQUEST, "invalid-tenant-id")
    );
    // A tenant whose id has a quote is an ordinary tenant.
    let quoted = server.token("it's");
    server.create_form(&quoted, "Quoted").await;
    assert_eq!(
        server.get("/t/it's/forms", &quoted).await.status(),
        StatusCode::OK
    );

    // Path parameters: percent-encoded NUL, quote, invalid UTF-8.
    for path in ["/t/%00/forms", "/t/al'pha/forms", "/t/%27%3B--/forms"] {
        let status = server.get(path, &alpha).await.status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, kind, _) = problem(server.get("/t/%FF%FE/forms", &alpha).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::BAD_REQUEST, "malformed-source")
    );

    // Over raw TCP: a host that is not UTF-8, a host with two labels, a
    // host with a NUL, a request line that is not HTTP.
    let auth = format!("Authorization: Bearer {alpha}\r\n");
    let mut not_utf8 = b"GET /forms HTTP/1.1\r\nHost: \xff\xfe.forms.test\r\n".to_vec();
    not_utf8.extend_from_slice(auth.as_bytes());
    not_utf8.extend_from_slice(b"Connection: close\r\n\r\n");
    assert_eq!(raw_status(&server, &not_utf8).await, 400);
    let two_labels = format!(
        "GET /forms HTTP/1.1\r\nHost: a.alpha.forms.test\r\n{auth}Connection: close\r\n\r\n"
    );
    assert_eq!(raw_status(&server, two_labels.as_bytes()).await, 400);
    let nul = format!(
        "GET /forms HTTP/1.1\r\nHost: al\0pha.forms.test\r\n{auth}Connection: close\r\n\r\n"
    );
    assert_eq!(raw_status(&server, nul.as_bytes()).await, 400);
    assert_eq!(
        raw_status(&server, b"\x16\x03\x01 nonsense\r\n\r\n").await,
        400
    );
    let many = format!(
        "GET /forms HTTP/1.1\r\nHost: x\r\n{auth}{}Connection: close\r\n\r\n",
        "X-A: b\r\n".repeat(500)
    );
    let status = raw_status(&server, many.as_bytes()).await;
    assert!((400..500).contains(&status), "{status}");

    // The server still serves after all this.
    assert_eq!(server.get("/forms", &alpha).await.status(), StatusCode::OK);
}
