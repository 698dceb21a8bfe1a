//! The Host/Origin policy's decisions (ledfx-api.md §1.7).

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::json;

use super::{decide, host_name, Decision, Settings};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

fn settings() -> Settings {
    Settings {
        own_hostname: Some("ledpi".into()),
        configured_host: Some("0.0.0.0".into()),
        ..Settings::default()
    }
}

fn serve(origin: Option<&str>) -> Decision {
    Decision::Serve {
        cors_origin: origin.map(str::to_owned),
    }
}

#[test]
fn host_names_are_normalised() {
    assert_eq!(host_name("LedPi.Local.:8888"), "ledpi.local");
    assert_eq!(host_name("[::1]:8888"), "::1");
    assert_eq!(host_name("fe80::1"), "fe80::1");
    assert_eq!(host_name("192.168.1.5"), "192.168.1.5");
}

#[test]
fn the_host_check_allows_local_names_and_listed_ones_only() {
    let s = settings();
    for host in [
        "192.168.1.5:8888",
        "[::1]:8888",
        "ledpi",
        "ledpi.local",
        "box.fritz.box",
        "studio.home.arpa",
        "LEDPI:8888",
    ] {
        let h = headers(&[("host", host)]);
        assert_eq!(
            decide(&s, &Method::GET, "/api/info", &h),
            serve(None),
            "{host}"
        );
    }
    let h = headers(&[("host", "evil.example.com")]);
    assert_eq!(
        decide(&s, &Method::GET, "/api/info", &h),
        Decision::Forbidden(
            "Host not allowed: evil.example.com. Add it to allowed_hosts in the LedFx config."
                .into()
        )
    );
    let listed = Settings {
        allowed_hosts: vec!["evil.example.com".into()],
        ..settings()
    };
    assert_eq!(decide(&listed, &Method::GET, "/api/info", &h), serve(None));
    let any = Settings::from_config(json!({"allowed_hosts": ["*"]}).as_object().unwrap());
    assert_eq!(decide(&any, &Method::GET, "/api/info", &h), serve(None));
}

#[test]
fn local_and_hosted_origins_get_cors_and_foreign_ones_may_only_read() {
    let s = settings();
    for origin in [
        "http://192.168.1.20:3000",
        "http://10.0.0.2",
        "http://100.64.1.1",
        "http://[fd00::1]:3000",
        "http://ledpi.local:3000",
        "https://ledfx.stream",
        "file://",
        "http://127.0.0.1:8888",
    ] {
        let h = headers(&[("host", "127.0.0.1:8888"), ("origin", origin)]);
        assert_eq!(
            decide(&s, &Method::POST, "/api/scenes", &h),
            serve(Some(origin)),
            "{origin}"
        );
    }
    // The page's own host:port is allowed, whatever its name.
    let h = headers(&[
        ("host", "leds.example.com:8888"),
        ("origin", "https://leds.example.com:8888"),
    ]);
    let public_host = Settings {
        allowed_hosts: vec!["leds.example.com".into()],
        ..settings()
    };
    assert!(matches!(
        decide(&public_host, &Method::PUT, "/api/virtuals", &h),
        Decision::Serve {
            cors_origin: Some(_)
        }
    ));

    let foreign = headers(&[
        ("host", "127.0.0.1:8888"),
        ("origin", "https://evil.example.com"),
    ]);
    let refused = Decision::Forbidden(
        "Origin not allowed: https://evil.example.com. Add it to allowed_origins in the LedFx config."
            .into(),
    );
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        assert_eq!(decide(&s, &method, "/api/virtuals", &foreign), refused);
    }
    assert_eq!(
        decide(&s, &Method::GET, "/api/virtuals", &foreign),
        serve(None)
    );
    assert_eq!(
        decide(&s, &Method::OPTIONS, "/api/virtuals", &foreign),
        serve(None),
        "an OPTIONS that is no preflight reaches the router (405)"
    );
    assert_eq!(
        decide(&s, &Method::GET, "/api/virtuals/strip/fallback", &foreign),
        refused,
        "a state-changing GET"
    );
    let mut upgrade = foreign.clone();
    upgrade.insert("upgrade", HeaderValue::from_static("websocket"));
    assert_eq!(
        decide(&s, &Method::GET, "/api/websocket", &upgrade),
        refused
    );
    let listed = Settings::from_config(
        json!({"allowed_origins": ["https://evil.example.com"]})
            .as_object()
            .unwrap(),
    );
    assert!(matches!(
        decide(&listed, &Method::POST, "/api/virtuals", &foreign),
        Decision::Serve {
            cors_origin: Some(_)
        }
    ));
}

#[test]
fn preflights_and_null_origins_follow_the_settings() {
    let s = settings();
    let pre = |origin: &str| {
        headers(&[
            ("host", "127.0.0.1:8888"),
            ("origin", origin),
            ("access-control-request-method", "PUT"),
        ])
    };
    assert_eq!(
        decide(
            &s,
            &Method::OPTIONS,
            "/api/config",
            &pre("http://192.168.1.20:3000")
        ),
        Decision::Preflight {
            origin: "http://192.168.1.20:3000".into()
        }
    );
    assert!(matches!(
        decide(
            &s,
            &Method::OPTIONS,
            "/api/config",
            &pre("https://evil.example.com")
        ),
        Decision::Forbidden(_)
    ));
    assert!(matches!(
        decide(&s, &Method::POST, "/api/config", &pre("null")),
        Decision::Forbidden(_)
    ));
    let null_ok = Settings::from_config(json!({"allow_null_origin": true}).as_object().unwrap());
    assert_eq!(
        decide(&null_ok, &Method::POST, "/api/config", &pre("null")),
        serve(Some("null"))
    );
}

#[test]
fn cross_site_state_changing_gets_without_an_origin_are_refused() {
    let s = settings();
    let h = headers(&[
        ("host", "127.0.0.1:8888"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "no-cors"),
    ]);
    assert_eq!(
        decide(&s, &Method::GET, "/api/find_devices", &h),
        Decision::Forbidden("Cross-site request not allowed: /api/find_devices".into())
    );
    assert_eq!(decide(&s, &Method::GET, "/api/devices", &h), serve(None));
    let scripts = headers(&[("host", "127.0.0.1:8888")]);
    assert_eq!(
        decide(&s, &Method::GET, "/api/find_devices", &scripts),
        serve(None)
    );
}
