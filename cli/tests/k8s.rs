//! `oaasc deploy --emit k8s`: every manifest it prints is read back into the Kubernetes API
//! types (k8s-openapi) or Knative's Service schema, and the pieces fit together: the
//! Service selects the Deployment's pods, probes hit `/healthz`, secrets come only from the
//! Secret, and each `@image` function has its Knative Service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use std::process::Command;

/// A Knative Service (serving.knative.dev/v1), the fields `oaasc` may write and no others.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KnativeService {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: KnativeSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnativeSpec {
    template: KnativeTemplate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnativeTemplate {
    spec: RevisionSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RevisionSpec {
    containers: Vec<Container>,
    timeout_seconds: Option<i64>,
}

/// What `oaasc deploy ... --emit k8s` printed, read back document by document.
#[derive(Default)]
struct Manifests {
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    knative: Vec<KnativeService>,
}

fn emit(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oaasc"))
        .args(["deploy"])
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("OAAS_CLUSTER")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn read(yaml: &str) -> Manifests {
    let mut m = Manifests::default();
    for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value = serde_yaml_ng::Value::deserialize(doc).unwrap();
        if value.is_null() {
            continue; // the comment before the first `---`
        }
        let api = value["apiVersion"].as_str().unwrap().to_string();
        match (api.as_str(), value["kind"].as_str().unwrap()) {
            ("apps/v1", "Deployment") => m.deployments.push(from(value)),
            ("v1", "Service") => m.services.push(from(value)),
            ("serving.knative.dev/v1", "Service") => m.knative.push(from(value)),
            (api, kind) => panic!("unexpected manifest {api} {kind}"),
        }
    }
    m
}

fn from<T: serde::de::DeserializeOwned>(value: serde_yaml_ng::Value) -> T {
    serde_yaml_ng::from_value(value).expect("a manifest the API types do not accept")
}

#[test]
fn the_runtime_and_its_functions_as_kubernetes_manifests() {
    let (code, stdout, stderr) = emit(&[
        "examples/video",
        "--emit",
        "k8s",
        "--namespace",
        "media",
        "--blobs",
        "s3://media/files",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let m = read(&stdout);
    assert_eq!((m.deployments.len(), m.services.len()), (1, 1));
    let deployment = &m.deployments[0];
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    let pod = spec.template.spec.as_ref().unwrap();
    let container = &pod.containers[0];
    let args = container.args.clone().unwrap();
    let after = |flag: &str| -> Vec<&str> {
        let pairs = args.windows(2).filter(|w| w[0] == flag);
        pairs.map(|w| w[1].as_str()).collect()
    };
    assert_eq!(args[0], "serve");
    assert_eq!(after("--blobs"), ["s3://media/files"]);
    assert_eq!(after("--listen"), ["0.0.0.0:6000"]);
    assert!(after("--public-url").contains(&"http://oaas-runtime.media.svc.cluster.local:6000"));
    let image_url = after("--image-url")[0];
    assert_eq!(image_url, "http://{service}.media.svc.cluster.local");
    for probe in [&container.readiness_probe, &container.liveness_probe] {
        let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some("/healthz"));
        assert_eq!(get.port, IntOrString::Int(6000));
    }
    // Secrets only by reference: no variable carries a value in the manifest.
    let env = container.env.clone().unwrap();
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    for needed in [
        "OAAS_TOKEN",
        "OAAS_STORE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(names.contains(&needed), "{names:?}");
    }
    for e in &env {
        assert!(e.value.is_none(), "{} has a literal value", e.name);
        let key = e
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(key.name, "oaas-runtime");
    }
    // The Service selects exactly the Deployment's pods, on the runtime's port.
    let service = m.services[0].spec.as_ref().unwrap();
    let pod_labels = spec.template.metadata.as_ref().unwrap().labels.clone();
    assert_eq!(service.selector, pod_labels);
    assert_eq!(Some(&spec.selector.match_labels), Some(&pod_labels));
    assert_eq!(service.ports.as_ref().unwrap()[0].port, 6000);
    // One Knative Service per image, named as the runtime's --image-url finds it.
    assert_eq!(m.knative.len(), 1);
    let ks = &m.knative[0];
    assert_eq!(
        (ks.api_version.as_str(), ks.kind.as_str()),
        ("serving.knative.dev/v1", "Service")
    );
    let name = ks.metadata.name.clone().unwrap();
    assert_eq!(
        name,
        oaas_compiler::artifact::knative::service_name("ghcr.io/acme/video-image:1")
    );
    assert_eq!(ks.metadata.namespace.as_deref(), Some("media"));
    let fc = &ks.spec.template.spec.containers[0];
    assert_eq!(fc.image.as_deref(), Some("ghcr.io/acme/video-image:1"));
    let runtime_url = fc
        .env
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.name == "OAAS_RUNTIME_URL");
    assert_eq!(
        runtime_url.and_then(|e| e.value.as_deref()),
        Some("http://oaas-runtime.media.svc.cluster.local:6000")
    );
    assert!(ks.spec.template.spec.timeout_seconds.is_none_or(|s| s > 0));
}

#[test]
fn a_package_without_images_gets_the_runtime_only_and_bad_settings_are_refused() {
    let (code, stdout, stderr) = emit(&["examples/record", "--emit", "k8s", "--replicas", "5"]);
    assert_eq!(code, Some(0), "{stderr}");
    let m = read(&stdout);
    assert!(m.knative.is_empty());
    let spec = m.deployments[0].spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(5));
    let meta = &m.deployments[0].metadata;
    assert_eq!(meta.namespace.as_deref(), Some("default"));
    let (code, stdout, stderr) = emit(&["examples/record", "--emit", "k8s", "--blobs", "/tmp/x"]);
    assert_eq!(code, Some(2));
    assert!(
        stdout.is_empty() && stderr.contains("s3://BUCKET"),
        "{stderr}"
    );
    let (code, _, stderr) = emit(&["examples/record", "--emit", "k8s", "--replicas", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
}
