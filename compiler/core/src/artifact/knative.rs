//! Knative manifests for the `@image` containers of an artifact (`oaasc deploy --emit
//! knative`): one `serving.knative.dev/v1` Service per image, named by [`service_name`], so
//! that a runtime started with `--image-url 'http://{service}.NAMESPACE.svc.cluster.local'`
//! finds each function's container.

use super::Artifact;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Where the manifests go and how their containers reach the runtime.
#[derive(Clone, Debug)]
pub struct KnativeOptions {
    /// The Kubernetes namespace of the services.
    pub namespace: String,
    /// The runtime's address, given to containers as `OAAS_RUNTIME_URL`.
    pub runtime_url: String,
}

/// The Kubernetes name of the service that runs `image`: its last path segment and tag,
/// lowercased to letters, digits and `-`, and a short hash of the whole reference, so that
/// two registries' `worker:1` get two services. At most 63 characters, starting with a
/// letter (a DNS label, as Kubernetes requires).
pub fn service_name(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    let mut base = String::new();
    for c in last.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            base.push(c);
        } else if !base.ends_with('-') {
            base.push('-');
        }
    }
    let base = base.trim_matches('-');
    let hash = image.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let base: String = base.chars().take(48).collect();
    let base = base.trim_end_matches('-');
    let lead = if base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        ""
    } else {
        "f-"
    };
    format!("{lead}{base}-{hash:08x}")
}

/// What one image serves: the functions (`package.Class.fn`) and the longest timeout.
#[derive(Default)]
struct ImageUse {
    functions: Vec<String>,
    timeout_ms: Option<u64>,
}

/// The manifests, as one YAML stream; empty of documents when no function names an image.
pub fn knative_manifests(artifact: &Artifact, options: &KnativeOptions) -> String {
    let mut images: BTreeMap<&str, ImageUse> = BTreeMap::new();
    for class in artifact.packages.iter().flat_map(|p| &p.classes) {
        for function in &class.functions {
            let run = &function.run;
            let Some(image) = run.image.as_deref().filter(|_| run.builtin.is_none()) else {
                continue;
            };
            let used = images.entry(image).or_default();
            used.functions
                .push(format!("{}.{}", class.qualified, function.name));
            used.timeout_ms = used.timeout_ms.max(run.timeout_ms);
        }
    }
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Knative Services for the @image functions of {}, artifact {}.",
        artifact
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        artifact.version
    );
    let _ = writeln!(
        out,
        "# Written by `oaasc deploy --emit knative`; apply with `kubectl apply -f FILE`, and start the runtime with\n# `oaasc serve --image-url 'http://{{service}}.{}.svc.cluster.local'`.",
        options.namespace
    );
    if images.is_empty() {
        out.push_str("# (no function names an @image)\n");
    }
    for (image, used) in &images {
        out.push_str("---\n");
        out.push_str("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n");
        let _ = writeln!(out, "  name: {}", q(&service_name(image)));
        let _ = writeln!(out, "  namespace: {}", q(&options.namespace));
        out.push_str("  labels:\n    app.kubernetes.io/managed-by: \"oaasc\"\n");
        out.push_str("  annotations:\n");
        let _ = writeln!(
            out,
            "    oaas.dev/functions: {}",
            q(&used.functions.join(", "))
        );
        out.push_str("spec:\n  template:\n    spec:\n");
        if let Some(ms) = used.timeout_ms {
            let _ = writeln!(out, "      timeoutSeconds: {}", ms.div_ceil(1000).max(1));
        }
        out.push_str("      containers:\n");
        let _ = writeln!(out, "        - image: {}", q(image));
        out.push_str("          env:\n            - name: \"OAAS_RUNTIME_URL\"\n");
        let _ = writeln!(out, "              value: {}", q(&options.runtime_url));
        // The SDKs listen on loopback unless told otherwise; in a pod the port must be
        // reachable from outside the container.
        out.push_str("            - name: \"HOST\"\n              value: \"0.0.0.0\"\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::service_name;

    #[test]
    fn service_names_are_dns_labels_that_tell_images_apart() {
        let a = service_name("ghcr.io/acme/video-image:1");
        assert!(a.starts_with("video-image-1-"), "{a}");
        assert_ne!(a, service_name("docker.io/other/video-image:1"));
        assert_eq!(a, service_name("ghcr.io/acme/video-image:1"));
        for image in [
            "ghcr.io/acme/video-image:1",
            "9lives/Worker_Main@sha256:abcdef",
            &format!("x/{}", "long".repeat(40)),
            "---",
            "",
        ] {
            let name = service_name(image);
            assert!(name.len() <= 63, "{name}");
            assert!(name.starts_with(|c: char| c.is_ascii_lowercase()), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!name.ends_with('-'), "{name}");
        }
    }
}
