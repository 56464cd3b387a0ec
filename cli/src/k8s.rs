//! `oaasc deploy --emit k8s`: the runtime as a Kubernetes Deployment of `oaasc serve`
//! replicas on one PostgreSQL database and one S3 bucket, the Service in front of them, and
//! (from the artifact) the Knative Services of the package's `@image` functions.
//!
//! Secrets are never written into the manifests: the Deployment reads them from a Secret
//! named [`SECRET`] that the operator creates (docs/cluster.md says how).

use serde_json::{json, Value};

/// The name of the runtime's Deployment, Service and Secret.
pub const NAME: &str = "oaas-runtime";
/// The Secret the runtime's settings come from, and its keys.
pub const SECRET: &str = NAME;
/// The runtime's port inside the pod and on the Service.
pub const PORT: u16 = 6000;

/// What the runtime's manifests need to know.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// The Kubernetes namespace.
    pub namespace: String,
    /// How many `oaasc serve` replicas.
    pub replicas: u32,
    /// The container image that has `oaasc` as its entry point.
    pub image: String,
    /// The bucket for files, `s3://BUCKET[/PREFIX]`.
    pub blobs: String,
}

/// The Secret's keys, each given to the runtime as the environment variable beside it.
const SECRET_ENV: &[(&str, &str)] = &[
    ("token", "OAAS_TOKEN"),
    ("store", "OAAS_STORE"),
    ("signing-key", "OAAS_SIGNING_KEY"),
    ("aws-access-key-id", "AWS_ACCESS_KEY_ID"),
    ("aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"),
    ("aws-endpoint-url", "AWS_ENDPOINT_URL"),
    ("aws-region", "AWS_REGION"),
];

/// The Deployment and the Service, as a YAML stream of two documents.
pub fn runtime_manifests(o: &RuntimeOptions) -> Result<String, String> {
    let mut out = format!(
        "# The OaaS runtime: {} replicas of `oaasc serve` behind the Service {NAME}.{}.\n\
         # Create the Secret {SECRET} first (keys: {}); see docs/cluster.md.\n",
        o.replicas,
        o.namespace,
        SECRET_ENV
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(", ")
    );
    for doc in [deployment(o), service(o)] {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The labels that tie the Service to the runtime's pods.
fn labels() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "oaasc"})
}

fn deployment(o: &RuntimeOptions) -> Value {
    let probe = |period: u32| json!({"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": period});
    let env: Vec<Value> = SECRET_ENV
        .iter()
        .map(|(key, var)| {
            json!({"name": var, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key}}})
        })
        .collect();
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": o.namespace, "labels": labels()},
        "spec": {
            "replicas": o.replicas,
            "selector": {"matchLabels": labels()},
            "template": {
                "metadata": {"labels": labels()},
                "spec": {
                    "containers": [{
                        "name": "runtime",
                        "image": o.image,
                        "args": serve_args(o),
                        "env": env,
                        "ports": [{"name": "http", "containerPort": PORT}],
                        "readinessProbe": probe(5),
                        "livenessProbe": probe(10),
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/oaas"}]
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}]
                }
            }
        }
    })
}

/// `oaasc serve`'s arguments in a pod (the store's URL comes from `$OAAS_STORE`, out of the
/// command line): every address inside the cluster that names the Service is one of its
/// own names, the full one first (the base of the URLs it signs, which every replica signs
/// with the Secret's key); `@image` functions go to their Knative Services.
fn serve_args(o: &RuntimeOptions) -> Vec<String> {
    let ns = &o.namespace;
    let mut args: Vec<String> = [
        "serve",
        "--listen",
        &format!("0.0.0.0:{PORT}"),
        "--data",
        "/var/lib/oaas",
        "--blobs",
        &o.blobs,
        "--image-url",
        &format!("http://{{service}}.{ns}.svc.cluster.local"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for host in [
        format!("{NAME}.{ns}.svc.cluster.local"),
        NAME.to_string(),
        format!("{NAME}.{ns}"),
        format!("{NAME}.{ns}.svc"),
    ] {
        args.push("--public-url".into());
        args.push(format!("http://{host}:{PORT}"));
    }
    args
}

fn service(o: &RuntimeOptions) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": o.namespace, "labels": labels()},
        "spec": {
            "selector": labels(),
            "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]
        }
    })
}
