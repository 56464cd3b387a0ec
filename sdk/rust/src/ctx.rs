//! What a handler gets: [`Ctx`], and the objects it creates: [`Output`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::FnError;
use crate::protocol::{Allocation, Task, TaskObject};

/// Per blob request when the task has no deadline.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// HTTP to signed URLs, with the task's deadline as the timeout.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    timeout: Duration,
}

impl Http {
    pub(crate) fn new(client: reqwest::Client, deadline_ms: Option<u64>) -> Self {
        let timeout = match deadline_ms {
            None => DEFAULT_TIMEOUT,
            Some(ms) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                let left = u128::from(ms).saturating_sub(now);
                Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX))
                    .clamp(Duration::from_millis(500), DEFAULT_TIMEOUT * 10)
            }
        };
        Http { client, timeout }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        method: &str,
        what: &str,
    ) -> Result<Bytes, FnError> {
        let resp = req
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| transport(method, what, &e))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport(method, what, &e))?;
        if status.is_success() {
            return Ok(body);
        }
        let detail = String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_string();
        let message = if detail.is_empty() {
            format!("{what}: {method} answered {}", status.as_u16())
        } else {
            format!("{what}: {method} answered {}: {detail}", status.as_u16())
        };
        if status.is_server_error() || status.as_u16() == 429 {
            Err(FnError::retryable(message))
        } else {
            Err(FnError::new(message))
        }
    }

    pub(crate) async fn get(&self, url: &str, what: &str) -> Result<Bytes, FnError> {
        self.send(self.client.get(url), "GET", what).await
    }

    pub(crate) async fn put(
        &self,
        url: &str,
        data: Bytes,
        media_type: &str,
        what: &str,
    ) -> Result<(), FnError> {
        let req = self
            .client
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, media_type)
            // Uploads only create: a bucket's upload URLs are signed with this header.
            .header(reqwest::header::IF_NONE_MATCH, "*")
            .body(data);
        self.send(req, "PUT", what).await.map(|_| ())
    }

    pub(crate) async fn allocate(&self, url: &str) -> Result<Allocation, FnError> {
        let what = "allocate an output";
        let req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body("");
        let body = self.send(req, "POST", what).await?;
        serde_json::from_slice(&body).map_err(|e| {
            FnError::retryable(format!(
                "{what}: unexpected answer {}: {e}",
                String::from_utf8_lossy(&body)
            ))
        })
    }
}

fn transport(method: &str, what: &str, e: &reqwest::Error) -> FnError {
    use std::error::Error as _;
    let mut message = format!("{what}: {method} failed: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    FnError::retryable(message)
}

/// The context of one task: its arguments, its object, files and outputs.
///
/// Reading is by reference ([`Ctx::state`], [`Ctx::arg`]); a handler that changes large
/// state without copying it can [`Ctx::take_state`]. Files of `self` written with
/// [`Ctx::write_file`] are listed in the answer on their own.
pub struct Ctx {
    task: Task,
    http: Http,
    self_files: Arc<Mutex<Vec<String>>>,
    empty: Map<String, Value>,
}

impl Ctx {
    pub(crate) fn new(
        task: Task,
        client: reqwest::Client,
        self_files: Arc<Mutex<Vec<String>>>,
    ) -> Self {
        let http = Http::new(client, task.deadline_ms);
        Ctx {
            task,
            http,
            self_files,
            empty: Map::new(),
        }
    }

    /// The whole task document.
    pub fn task(&self) -> &Task {
        &self.task
    }

    pub fn task_id(&self) -> &str {
        &self.task.task_id
    }

    /// The class the function is called on (`package.Class`).
    pub fn class(&self) -> &str {
        &self.task.class
    }

    /// The class whose declaration of the function runs (an ancestor of [`Ctx::class`] for
    /// an inherited function).
    pub fn declared_in(&self) -> &str {
        self.task.declared_in.as_deref().unwrap_or(&self.task.class)
    }

    pub fn function(&self) -> &str {
        &self.task.function
    }

    /// When the runtime stops waiting.
    pub fn deadline(&self) -> Option<SystemTime> {
        self.task
            .deadline_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    // ---- arguments ---------------------------------------------------------------------

    /// Every argument, defaults filled in by the runtime.
    pub fn args(&self) -> &Map<String, Value> {
        &self.task.args
    }

    /// Argument `name` as a `T`; missing, `null` or of another type is an error (`422`).
    pub fn arg<T: DeserializeOwned>(&self, name: &str) -> Result<T, FnError> {
        match self.task.args.get(name) {
            None | Some(Value::Null) => Err(FnError::new(format!("missing argument `{name}`"))),
            Some(v) => {
                T::deserialize(v).map_err(|e| FnError::new(format!("argument `{name}`: {e}")))
            }
        }
    }

    /// Argument `name` as a `T`, or `default` when it is missing or `null`.
    pub fn arg_or<T: DeserializeOwned>(&self, name: &str, default: T) -> Result<T, FnError> {
        match self.task.args.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(_) => self.arg(name),
        }
    }

    // ---- the object --------------------------------------------------------------------

    /// The object; `None` for static functions.
    pub fn object(&self) -> Option<&TaskObject> {
        self.task.object.as_ref()
    }

    pub fn self_id(&self) -> Option<&str> {
        self.task.object.as_ref().map(|o| o.id.as_str())
    }

    pub fn version(&self) -> Option<u64> {
        self.task.object.as_ref().map(|o| o.version)
    }

    /// The object's state (empty for static functions, or after [`Ctx::take_state`]).
    pub fn state(&self) -> &Map<String, Value> {
        self.task.object.as_ref().map_or(&self.empty, |o| &o.state)
    }

    /// State field `name` as a `T`; `None` when it is absent or `null`.
    pub fn state_field<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, FnError> {
        match self.state().get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::deserialize(v)
                .map(Some)
                .map_err(|e| FnError::new(format!("state field `{name}`: {e}"))),
        }
    }

    /// Move the state out (no copy). Send back what changed with [`crate::Reply::set`].
    pub fn take_state(&mut self) -> Map<String, Value> {
        self.task
            .object
            .as_mut()
            .map(|o| std::mem::take(&mut o.state))
            .unwrap_or_default()
    }

    /// The object's refs: name -> object id or list of ids.
    pub fn refs(&self) -> &Map<String, Value> {
        self.task.object.as_ref().map_or(&self.empty, |o| &o.refs)
    }

    // ---- files of self -----------------------------------------------------------------

    /// Whether the object has file `name` (uploaded).
    pub fn has_file(&self, name: &str) -> bool {
        self.task
            .object
            .as_ref()
            .is_some_and(|o| o.files.contains_key(name))
    }

    /// The signed `GET` URL of file `name`, to stream it yourself.
    pub fn file_url(&self, name: &str) -> Result<&str, FnError> {
        let Some(object) = self.task.object.as_ref() else {
            return Err(FnError::new(format!(
                "{} is static: there is no object to read file `{name}` from",
                self.task.function
            )));
        };
        object
            .files
            .get(name)
            .map(|f| f.url.as_str())
            .ok_or_else(|| {
                FnError::new(format!(
                    "object {} has no file `{name}` (not uploaded yet?)",
                    object.id
                ))
            })
    }

    /// The content of file `name`.
    pub async fn read_file(&self, name: &str) -> Result<Bytes, FnError> {
        let url = self.file_url(name)?;
        self.http.get(url, &format!("read file `{name}`")).await
    }

    /// The content of file `name`, or `default` when the object has no such file yet.
    pub async fn read_file_or(&self, name: &str, default: Bytes) -> Result<Bytes, FnError> {
        if self.has_file(name) {
            self.read_file(name).await
        } else {
            Ok(default)
        }
    }

    /// Upload a new version of file `name` of the object (`mut` functions only).
    pub async fn write_file(&self, name: &str, data: impl Into<Bytes>) -> Result<(), FnError> {
        self.write_file_as(name, data, "application/octet-stream")
            .await
    }

    /// [`Ctx::write_file`] with a media type.
    pub async fn write_file_as(
        &self,
        name: &str,
        data: impl Into<Bytes>,
        media_type: &str,
    ) -> Result<(), FnError> {
        let Some(object) = self.task.object.as_ref() else {
            return Err(FnError::new(format!(
                "{} is static: there is no object to write file `{name}` to",
                self.task.function
            )));
        };
        let Some(url) = object.upload.get(name) else {
            if object.upload.is_empty() {
                return Err(FnError::new(format!(
                    "cannot write file `{name}`: only a mut function may change its object's files"
                )));
            }
            let known: Vec<&str> = object.upload.keys().map(String::as_str).collect();
            return Err(FnError::new(format!(
                "class {} has no file `{name}` (files: {})",
                object.class,
                known.join(", ")
            )));
        };
        self.http
            .put(
                url,
                data.into(),
                media_type,
                &format!("upload file `{name}`"),
            )
            .await?;
        let mut written = self.self_files.lock().unwrap_or_else(|e| e.into_inner());
        if !written.iter().any(|n| n == name) {
            written.push(name.to_string());
        }
        Ok(())
    }

    // ---- outputs -----------------------------------------------------------------------

    /// The output object of a `-> Class` function. Return it with
    /// [`crate::Reply::output`].
    pub fn output(&self) -> Result<Output, FnError> {
        let Some(slot) = self.task.output.as_ref() else {
            return Err(FnError::new(format!(
                "{} has no output object: only functions declared `-> Class` have one",
                self.task.function
            )));
        };
        Ok(Output {
            id: Some(slot.id.clone()),
            class: slot.class.clone(),
            upload: slot.upload.clone(),
            allocate_url: None,
            state: Map::new(),
            refs: Map::new(),
            files: Vec::new(),
            http: self.http.clone(),
        })
    }

    /// One more object of a `-> [Class]` function's result. It is allocated through
    /// `allocate_url` only when it needs to be (a file written, or [`Output::allocate`]);
    /// otherwise the runtime gives it the id `uuid5(task_id, index)`. Return them, in
    /// order, with [`crate::Reply::outputs`].
    pub fn new_output(&self) -> Result<Output, FnError> {
        let Some(slot) = self.task.outputs.as_ref() else {
            return Err(FnError::new(format!(
                "{} does not return a list of objects: new_output() needs `-> [Class]`",
                self.task.function
            )));
        };
        Ok(Output {
            id: None,
            class: slot.class.clone(),
            upload: Default::default(),
            allocate_url: Some(slot.allocate_url.clone()),
            state: Map::new(),
            refs: Map::new(),
            files: Vec::new(),
            http: self.http.clone(),
        })
    }
}

/// An object a function creates: its state, refs and files.
pub struct Output {
    id: Option<String>,
    class: String,
    upload: std::collections::BTreeMap<String, String>,
    allocate_url: Option<String>,
    /// The object's state: fields not given take their defaults.
    pub state: Map<String, Value>,
    /// Ref name -> object id or list of ids.
    pub refs: Map<String, Value>,
    files: Vec<String>,
    http: Http,
}

impl Output {
    /// The id: always for the output of a `-> Class` function; for an element of a list,
    /// once allocated.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn class(&self) -> &str {
        &self.class
    }

    /// The files uploaded so far.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Set state field `key`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.state.insert(key.into(), value.into());
        self
    }

    /// Set state field `key`, by value (for chaining).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set(key, value);
        self
    }

    /// Set ref `name` to an object id or a list of ids.
    pub fn set_ref(&mut self, name: impl Into<String>, ids: impl Into<Value>) -> &mut Self {
        self.refs.insert(name.into(), ids.into());
        self
    }

    /// Allocate this element of a list output now, if it is not yet; answers its id.
    pub async fn allocate(&mut self) -> Result<&str, FnError> {
        if self.id.is_none() {
            let Some(url) = self.allocate_url.as_deref() else {
                return Err(FnError::new(
                    "this output cannot be allocated: the task has no outputs.allocate_url",
                ));
            };
            let allocation = self.http.allocate(url).await?;
            self.upload = allocation.upload;
            self.id = Some(allocation.id);
        }
        Ok(self.id.as_deref().unwrap_or_default())
    }

    /// Upload file `name` of this object (allocating it first if needed).
    pub async fn write_file(&mut self, name: &str, data: impl Into<Bytes>) -> Result<(), FnError> {
        self.write_file_as(name, data, "application/octet-stream")
            .await
    }

    /// [`Output::write_file`] with a media type.
    pub async fn write_file_as(
        &mut self,
        name: &str,
        data: impl Into<Bytes>,
        media_type: &str,
    ) -> Result<(), FnError> {
        self.allocate().await?;
        let Some(url) = self.upload.get(name) else {
            let known: Vec<&str> = self.upload.keys().map(String::as_str).collect();
            return Err(FnError::new(format!(
                "class {} has no file `{name}` to upload (files: {})",
                self.class,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        self.http
            .put(
                url,
                data.into(),
                media_type,
                &format!("upload file `{name}` of the output"),
            )
            .await?;
        if !self.files.iter().any(|n| n == name) {
            self.files.push(name.to_string());
        }
        Ok(())
    }

    pub(crate) fn into_result(self, with_id: bool) -> crate::protocol::OutputResult {
        crate::protocol::OutputResult {
            id: if with_id { self.id } else { None },
            state: self.state,
            refs: self.refs,
            files: self.files,
        }
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("id", &self.id)
            .field("class", &self.class)
            .field("state", &self.state)
            .field("refs", &self.refs)
            .field("files", &self.files)
            .finish()
    }
}

// Handlers run on a multi-threaded runtime: keep both Send.
#[allow(dead_code)]
fn assert_send() {
    fn is_send<T: Send>() {}
    is_send::<Ctx>();
    is_send::<Output>();
}
