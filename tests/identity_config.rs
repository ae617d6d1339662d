//! End to end: the keys of identity, limits and the HTTP port as the real binary reads
//! them: every mistake exits 2 naming the key, and no secret ever reaches standard
//! error.

mod support;

use support::run_to_exit;

/// Runs `serve` with `toml` as its configuration file and `args` after it; returns the
/// exit code and standard error.
fn serve_with(toml: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    let config = format!("frame = \"127.0.0.1:0\"\nline = \"127.0.0.1:0\"\n{toml}");
    std::fs::write(&path, config).unwrap();
    let mut all = vec!["serve", "--config", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let (status, stderr) = run_to_exit(&all);
    (status.code(), stderr)
}

/// Secrets used below: none may appear on standard error.
const SECRETS: [&str; 4] = [
    "alice-secret-token",
    "the-jwt-secret",
    "the-metrics-token",
    "flag-metrics-token",
];

#[test]
fn identity_mistakes_exit_2_naming_the_key() {
    let alice = "[[users]]\nname = \"alice\"\ntoken = \"alice-secret-token\"\n";
    let cases = [
        (
            format!("{alice}[[users]]\nname = \"alice\"\ntoken = \"other-token\"\n"),
            "config key \"users\": two users are called \"alice\"",
        ),
        (
            format!("{alice}[[users]]\nname = \"bob\"\ntoken = \"alice-secret-token\"\n"),
            "config key \"users\": users \"alice\" and \"bob\" have the same token",
        ),
        (
            format!("{alice}join = [\"chat..eu\"]\n"),
            "config key \"users\": user \"alice\": join: empty token in pattern \"chat..eu\"",
        ),
        (
            format!("{alice}publish = [\"chat.>.eu\"]\n"),
            "config key \"users\": user \"alice\": publish: ",
        ),
        (
            "tls_client_ca = \"/nonexistent/ca.pem\"\n".to_owned(),
            "config key \"tls_client_ca\": needs \"tls_cert\" and \"tls_key\"",
        ),
        (
            "jwt_secret = \"\"\n".to_owned(),
            "config key \"jwt_secret\": must not be empty",
        ),
        (
            "jwt_secret = \"the-jwt-secret\"\nmetrics_token = \"the metrics-token\"\n".to_owned(),
            "config key \"metrics_token\": ",
        ),
        (
            "max_messages_burst = 0\n".to_owned(),
            "config key \"max_messages_burst\" must be greater than 0",
        ),
    ];
    for (toml, expected) in cases {
        let (code, stderr) = serve_with(&toml, &[]);
        assert_eq!(code, Some(2), "{toml}: {stderr}");
        assert!(stderr.contains(expected), "{toml}: {stderr}");
        for secret in SECRETS {
            assert!(!stderr.contains(secret), "{secret} printed: {stderr}");
        }
    }
}

#[test]
fn a_syntax_error_next_to_a_secret_does_not_print_it() {
    let (code, stderr) = serve_with("metrics_token = \"the-metrics-token\n", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("line 3, "), "{stderr}");
    assert!(!stderr.contains("the-metrics-token"), "{stderr}");
    let (code, stderr) = serve_with(
        "jwt_secret = 12\n",
        &[
            "--metrics",
            "127.0.0.1:0",
            "--metrics-token",
            "flag-metrics-token",
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("config key \"jwt_secret\": "), "{stderr}");
    assert!(!stderr.contains("flag-metrics-token"), "{stderr}");
}
