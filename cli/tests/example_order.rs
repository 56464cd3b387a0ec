//! `examples/order` end to end, one test per path: a real `oaasc serve` with the example's
//! Python container. A small order is paid; a large one waits for the signal `approval`
//! (sent with `oaasc signal`) and is paid; a declined card releases the items; an item out of
//! stock releases the others.
#![allow(clippy::unwrap_used)]

mod common;

use common::{client, get, post, server, Server, TOKEN};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/order")
}

/// A server with the example deployed, and its URL.
struct Shop {
    _server: Server,
    base: String,
}

async fn shop() -> Shop {
    let server = server(None);
    let base = server.url.clone();
    let source = std::fs::read_to_string(example().join("order.oaas")).unwrap();
    let body = json!({"sources": {"order.oaas": source}, "workdir": example()});
    let (status, r) = post(&client(), format!("{base}/api/packages"), body).await;
    assert_eq!(status, 201, "{r}");
    Shop {
        _server: server,
        base,
    }
}

impl Shop {
    async fn create(&self, class: &str, state: Value) -> String {
        let url = format!("{}/api/classes/order.{class}/objects", self.base);
        let (status, r) = post(&client(), url, state).await;
        assert_eq!(status, 201, "{r}");
        r["result"]["id"].as_str().unwrap().to_string()
    }

    async fn item(&self, sku: &str, stock: i64) -> String {
        self.create("Item", json!({"sku": sku, "stock": stock}))
            .await
    }

    async fn order(&self, number: &str, total: f64, card: &str, items: &[&str]) -> String {
        let state = json!({"number": number, "total": total, "card": card, "items": items});
        self.create("Order", state).await
    }

    /// Runs `place` on an order and answers its result.
    async fn place(&self, order: &str) -> Value {
        let url = format!("{}/api/objects/{order}/invoke/place", self.base);
        let (status, r) = post(&client(), url, json!({})).await;
        assert_eq!(status, 200, "{r}");
        r["result"].clone()
    }

    async fn holds(&self, item: &str) -> Value {
        let (status, r) = get(&client(), format!("{}/api/objects/{item}", self.base)).await;
        assert_eq!(status, 200, "{r}");
        r["state"]["holds"].clone()
    }

    async fn invocation(&self, id: &str) -> Value {
        let (status, r) = get(&client(), format!("{}/api/invocations/{id}", self.base)).await;
        assert_eq!(status, 200, "{r}");
        r
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_order_is_reserved_charged_and_notified() {
    let shop = shop().await;
    let a = shop.item("apple", 5).await;
    let o = shop.order("o1", 50.0, "visa", &[&a]).await;
    assert_eq!(shop.place(&o).await, "paid 50.00 on card visa");
    assert_eq!(shop.holds(&a).await, json!({"o1": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_order_waits_for_its_approval_signal() {
    let shop = shop().await;
    let a = shop.item("apple", 5).await;
    let o = shop.order("o2", 5000.0, "visa", &[&a]).await;
    let url = format!("{}/api/objects/{o}/invoke/place?async=true", shop.base);
    let (status, accepted) = post(&client(), url, json!({})).await;
    assert_eq!(status, 202, "{accepted}");
    let inv = accepted["invocation_id"].as_str().unwrap().to_string();
    // It waits: asked for approval, nothing charged.
    let started = Instant::now();
    loop {
        let (_, order) = get(&client(), format!("{}/api/objects/{o}", shop.base)).await;
        if order["state"]["status"] == "awaiting approval" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{order}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(shop.invocation(&inv).await["status"], "pending");
    let sent = std::process::Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .args([
            "signal",
            &inv,
            "approval",
            "--value",
            r#"{"approved": true, "by": "ann"}"#,
        ])
        .args(["--cluster", &shop.base])
        .env("OAAS_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let done = loop {
        let v = shop.invocation(&inv).await;
        if v["status"] != "pending" {
            break v;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["result"], "paid 5000.00 on card visa", "{done}");
    assert_eq!(shop.holds(&a).await, json!({"o2": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_releases_the_items() {
    let shop = shop().await;
    let a = shop.item("apple", 5).await;
    let b = shop.item("pear", 5).await;
    let o = shop.order("o3", 20.0, "declined", &[&a, &b]).await;
    let result = shop.place(&o).await;
    assert!(
        result
            .as_str()
            .unwrap()
            .starts_with("payment failed: `charge` failed"),
        "{result}"
    );
    assert!(
        result.as_str().unwrap().contains("card declined"),
        "{result}"
    );
    assert_eq!(shop.holds(&a).await, json!({}));
    assert_eq!(shop.holds(&b).await, json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_out_of_stock_releases_the_others() {
    let shop = shop().await;
    let a = shop.item("apple", 5).await;
    let b = shop.item("pear", 0).await;
    let c = shop.item("plum", 5).await;
    // Another order's hold on the apple is kept.
    let first = shop.order("o0", 10.0, "visa", &[&a]).await;
    assert_eq!(shop.place(&first).await, "paid 10.00 on card visa");
    let o = shop.order("o4", 20.0, "visa", &[&a, &b, &c]).await;
    assert_eq!(
        shop.place(&o).await,
        "out of stock: 1 item(s); the others were released"
    );
    assert_eq!(shop.holds(&a).await, json!({"o0": 1}));
    assert_eq!(shop.holds(&b).await, json!({}));
    assert_eq!(shop.holds(&c).await, json!({}));
}
