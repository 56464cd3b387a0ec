//! `record.Record` (examples/record/record.oaas) as a Rust function container.
//!
//! `cargo run -p oaas-sdk --example record` (listens on $PORT, 8080 by default). The
//! runtime's JSON-update benchmark calls `put`, so it is kept lean: the state is moved out
//! of the task, not copied, and only `data` is sent back.

use oaas_sdk::{Ctx, FnError, Functions, Map, Reply, Value};

/// `public mut fn put(key: string, value: string)`: `data[key] = value`.
async fn put(mut ctx: Ctx) -> Result<Reply, FnError> {
    let key: String = ctx.arg("key")?;
    let value: String = ctx.arg("value")?;
    let mut data = match ctx.take_state().remove("data") {
        Some(Value::Object(data)) => data,
        _ => Map::new(),
    };
    data.insert(key, Value::String(value));
    Ok(Reply::new().set("data", data))
}

/// `public mut fn increment(by: int = 1) -> int`: `count += by`, answers the new count.
async fn increment(ctx: Ctx) -> Result<Reply, FnError> {
    let by: i64 = ctx.arg_or("by", 1)?;
    let count = ctx.state_field::<i64>("count")?.unwrap_or(0) + by;
    Ok(Reply::value(count).set("count", count))
}

/// `public fn read_count() -> int`.
async fn read_count(ctx: Ctx) -> Result<Reply, FnError> {
    Ok(Reply::value(ctx.state_field::<i64>("count")?.unwrap_or(0)))
}

/// The handlers, also used by the SDK's tests.
pub fn functions() -> Functions {
    Functions::new()
        .function("record.Record", "put", put)
        .function("record.Record", "increment", increment)
        .function("record.Record", "read_count", read_count)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    functions().serve_from_env().await
}
