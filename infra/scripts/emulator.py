"""A private moto server for `make tf-apply-local`, with the few emulator-only patches listed in
infra/README.md ("Apply to the emulator"). Each patch makes moto do what AWS does; none changes infra/.

    python infra/scripts/emulator.py --port 45123 --tls-dir /tmp/emu    # https, until stopped (SIGTERM)

It serves HTTPS only (a self-signed certificate for 127.0.0.1 written to --tls-dir; clients trust it through
AWS_CA_BUNDLE), because the buckets' policies deny every request without TLS, as AWS does.

Patches (and why):
  kafka         MSK Serverless clusters are created ACTIVE. moto keeps every cluster CREATING forever, so
                the provider's wait for ACTIVE never ends; AWS reaches ACTIVE after some minutes.
                GetBootstrapBrokers answers with the IAM (port 9098) broker string AWS gives an IAM-auth
                cluster; moto does not implement the action (500), which the provider retries for minutes.
                Describing a deleted cluster answers NotFoundException (moto: a 500, so destroy waits forever).
  emr-serverless  the application type is matched case-insensitively ("spark" as the provider docs write
                it). moto accepts only "SPARK"/"HIVE"; AWS accepts either case. A new application is
                CREATED, as in AWS (moto: STARTED at once, so the provider's wait for CREATED never ends);
                a started job run is RUNNING, as a streaming run is until cancelled (moto: SUCCESS at once).
  s3            bucket policies see aws:SecureTransport = true (every request reaches this server over TLS),
                their Bool conditions are evaluated, and a statement whose condition does not hold does not
                apply. moto ignores all but StringEquals and answers DENIED for any statement whose condition
                fails, so the TLS-only Deny refused every request (PutObject/HeadObject 403).
                After versioning is suspended, a version id still deletes that one version, as in S3;
                moto took the unversioned path and removed the whole key, which fails (500 on every retry)
                when one of its versions is a delete marker: `terraform destroy` of a force_destroy bucket
                whose versioning resource went first waited until its deadline.
  iam           AWS managed policies are loaded (moto's `iam.load_aws_managed_policies` switch), so
                attaching AmazonRDSEnhancedMonitoringRole works as in AWS.
  host prefix   the AWS SDKs put an `api.` / `env.` host prefix in front of MWAA's endpoint
                (api.127.0.0.1 does not resolve); a CONNECT proxy (--proxy-port, the client's HTTPS_PROXY)
                tunnels every such name to this server, whose certificate names them.
  retries       an SDK retry of a call this server already answered with a success gets that success again,
                not a second run (a create run twice is refused as a duplicate). The SDK retries a success only
                when the answer did not reach it; errors are not kept and run again, as in AWS.
  lambda        functions are not run (moto's `lambda.use_docker = false`: there is no Docker here); an
                invocation answers moto's stub. The bootstrap's code is tested against the local stack.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

#: What each patch does, for the runner's report and the README (keep in step with the docstring).
PATCHES = {
    "kafka": "MSK Serverless cluster created ACTIVE (moto never leaves CREATING); GetBootstrapBrokers answered "
             "(moto: not implemented); a deleted cluster is NotFound (moto: 500)",
    "emr-serverless": "application type matched case-insensitively (moto accepts only upper case); a new "
                      "application is CREATED (moto: STARTED); job runs stay RUNNING (moto: SUCCESS at once)",
    "s3": "bucket policies evaluated with aws:SecureTransport=true (served over TLS) and Bool conditions "
          "(moto ignores all but StringEquals); a version id deletes that version after versioning is suspended "
          "(moto: the whole key, a 500 when it holds a delete marker)",
    "iam": "AWS managed policies loaded (moto config iam.load_aws_managed_policies)",
    "host prefix": "MWAA's api./env. host prefixes tunnelled to the emulator by a CONNECT proxy (HTTPS_PROXY)",
    "retries": "an SDK retry of a call already answered with a success gets that success, not a second run (logged)",
    "lambda": "functions not executed: invocations answer moto's stub (moto config lambda.use_docker=false)",
}


def apply_patches() -> None:
    from moto.core.config import default_user_config

    default_user_config["iam"] = {"load_aws_managed_policies": True}
    default_user_config["lambda"] = {"use_docker": False}

    from moto.emrserverless.models import EMRServerlessBackend
    from moto.kafka.models import KafkaBackend
    from moto.kafka.responses import KafkaResponse

    create_cluster_v2 = KafkaBackend.create_cluster_v2

    def active_serverless(self: Any, *args: Any, **kwargs: Any) -> Any:
        arn, name, _state, kind = create_cluster_v2(self, *args, **kwargs)
        if kind == "SERVERLESS":
            self.clusters[arn].state = "ACTIVE"
        return arn, name, self.clusters[arn].state, kind

    KafkaBackend.create_cluster_v2 = active_serverless  # type: ignore[method-assign]
    KafkaResponse.get_bootstrap_brokers = bootstrap_brokers  # type: ignore[attr-defined]
    from moto.kafka.exceptions import NotFoundException

    def not_found(original: Any) -> Any:
        def describe(self: Any, cluster_arn: str) -> Any:
            if cluster_arn not in self.clusters:  # deleted: AWS answers NotFoundException (moto: KeyError, 500)
                raise NotFoundException(f"Cluster {cluster_arn} not found")
            return original(self, cluster_arn)

        return describe

    for name in ("describe_cluster_v2", "describe_cluster"):
        setattr(KafkaBackend, name, not_found(getattr(KafkaBackend, name)))

    create_application = EMRServerlessBackend.create_application

    def any_case(self: Any, name: str, release_label: str, application_type: str, *args: Any, **kwargs: Any) -> Any:
        app = create_application(self, name, release_label, application_type.upper(), *args, **kwargs)
        app.state = "CREATED"  # as in AWS; moto says STARTED at once, and the provider waits for CREATED
        return app

    start_job_run = EMRServerlessBackend.start_job_run

    def streaming(self: Any, *args: Any, **kwargs: Any) -> Any:
        run = start_job_run(self, *args, **kwargs)
        run.state = "RUNNING"  # a STREAMING run runs until cancelled; moto finishes every run at once
        return run

    EMRServerlessBackend.create_application = any_case  # type: ignore[method-assign]
    EMRServerlessBackend.start_job_run = streaming  # type: ignore[method-assign]

    from moto.iam import policy_conditions
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    def bool_equals(expected: Any, actual: str) -> bool:
        values = expected if isinstance(expected, list) else [expected]
        return str(actual).lower() in [str(v).lower() for v in values]

    policy_conditions.CONDITION_OPERATIONS["Bool"] = bool_equals  # type: ignore[assignment]

    def tls_permission(self: Any, action: str, resource: str) -> Any:
        # A statement whose condition does not hold does not apply (moto would answer DENIED for it, even
        # for an Allow or a Deny with an unmet condition).
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = json.loads(self.policy.decode())
        statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
        context = {"aws:SecureTransport": "true"}
        applying = [st for st in statements if IAMPolicyStatement(st)._check_conditions(context)]
        if not applying:
            return PermissionResult.NEUTRAL
        policy = IAMPolicy(json.dumps({**doc, "Statement": applying}))
        return policy.is_action_permitted(action, resource, None, context)

    FakeBucket.get_permission = tls_permission  # type: ignore[method-assign]

    from moto.s3.models import FakeDeleteMarker, S3Backend

    delete_object = S3Backend.delete_object

    def one_version(self: Any, bucket_name: str, key_name: str, version_id: str | None = None,
                    *args: Any, **kwargs: Any) -> Any:
        # S3: a version id names one version whatever the bucket's versioning is now. moto's versioned branch
        # does exactly that; requests reach the backend one at a time (serve), so the flip is not seen by others.
        bucket = self.get_bucket(bucket_name)
        if version_id is None or getattr(bucket, "versioning_status", None) != "Suspended":
            return delete_object(self, bucket_name, key_name, version_id, *args, **kwargs)
        bucket.versioning_status = "Enabled"
        try:
            return delete_object(self, bucket_name, key_name, version_id, *args, **kwargs)
        finally:
            bucket.versioning_status = "Suspended"

    S3Backend.delete_object = one_version  # type: ignore[method-assign]
    # A key removed whole (no version id, versioning suspended) disposes each version's buffer; a delete
    # marker has none (moto: AttributeError, a 500).
    FakeDeleteMarker.dispose = lambda self, garbage=False: None  # type: ignore[attr-defined]


def bootstrap_brokers(self: Any) -> str:
    """GetBootstrapBrokers (GET /v1/clusters/{arn}/bootstrap-brokers): SASL/IAM brokers on 9098."""
    arn = unquote(self.path.split("/v1/clusters/", 1)[1].rsplit("/bootstrap-brokers", 1)[0])
    cluster = self.kafka_backend.clusters[arn]
    name, region = cluster.cluster_name, self.kafka_backend.region_name
    if cluster.cluster_type == "SERVERLESS":
        brokers = [f"boot-{name}.c1.kafka-serverless.{region}.amazonaws.com:9098"]
    else:
        count = cluster.number_of_broker_nodes or 1
        brokers = [f"b-{i}.{name}.c1.kafka.{region}.amazonaws.com:9098" for i in range(1, 1 + count)]
    return json.dumps({"bootstrapBrokerStringSaslIam": ",".join(brokers)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python infra/scripts/emulator.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-dir", type=Path, required=True, help="where cert.pem / key.pem are written")
    parser.add_argument("--proxy-port", type=int, help="also serve a CONNECT proxy to this server here")
    args = parser.parse_args(argv)
    cert, key = self_signed(args.tls_dir, args.host)
    if args.proxy_port:
        threading.Thread(target=connect_proxy, args=(args.host, args.proxy_port, args.port), daemon=True).start()
    apply_patches()
    serve(args.host, args.port, cert, key)
    return 0


def serve(host: str, port: int, cert: Path, key: Path) -> None:
    """moto's server (as ``moto_server``), with one request in a backend at a time: moto's backends are not
    thread-safe, and Terraform sends many requests at once (two ingress rules on one security group
    created together were refused as duplicates)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))
    app = answered_once(DomainDispatcherApplication(create_backend_app))
    lock = threading.Lock()

    def one_at_a_time(environ: Any, start_response: Any) -> Any:
        with lock:
            return list(app(environ, start_response))

    run_simple(host, port, one_at_a_time, threaded=True, ssl_context=(str(cert), str(key)),
               request_handler=MotoRequestHandler)


#: Successes kept for SDK retries: the newest, up to this many bytes in all (a retry follows its call within
#: seconds), each up to this size (a large S3 GET is not kept).
KEPT_BYTES, KEPT_ANSWER_BYTES = 64 * 2**20, 256 * 1024


def answered_once(app: Any, log: Any = None) -> Any:
    """A retried SDK call (same ``amz-sdk-invocation-id``, ``amz-sdk-request: attempt=N``, N > 1) that this server
    already answered with a success gets that success again instead of being run twice. The SDK retries a call
    that succeeded only when the answer did not reach it (a connection lost after the server answered). Run twice,
    a create is refused as a duplicate (``InvalidPermission.Duplicate`` on a security-group rule, seen in CI) or a
    delete as not found. Errors are not kept: a retried error (throttling, 5xx, a code the provider retries) runs
    again, as in AWS. Every replay is logged (emulator.log), so a run shows how often an answer was lost."""
    from collections import OrderedDict

    kept: OrderedDict[str, tuple[str, list[tuple[str, str]], bytes]] = OrderedDict()
    kept_bytes = 0
    write = log or (lambda line: print(line, file=sys.stderr, flush=True))

    def wsgi(environ: Any, start_response: Any) -> Any:
        nonlocal kept_bytes
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
        attempt = environ.get("HTTP_AMZ_SDK_REQUEST", "attempt=1").split(";", 1)[0].strip()
        if invocation and attempt != "attempt=1" and invocation in kept:
            status, headers, body = kept[invocation]
            write(f"emulator: {attempt} of invocation {invocation} was answered before ({status}); same answer again")
            start_response(status, headers)
            return [body]
        if invocation and attempt != "attempt=1":
            write(f"emulator: {attempt} of invocation {invocation}: no success kept for it; run again")
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.update(status=status, headers=list(headers))
            return start_response(status, headers, exc_info)

        body = b"".join(app(environ, capture))
        if invocation and answer.get("status", "500").startswith("2") and len(body) <= KEPT_ANSWER_BYTES:
            if invocation in kept:
                kept_bytes -= len(kept.pop(invocation)[2])
            kept[invocation] = (answer["status"], answer["headers"], body)
            kept_bytes += len(body)
            while kept_bytes > KEPT_BYTES:
                kept_bytes -= len(kept.popitem(last=False)[1][2])
        return [body]

    return wsgi


#: Host prefixes the SDKs add to an endpoint (MWAA: api., env.); the certificate names each under the host.
HOST_PREFIXES = ("api", "env", "ops")


def connect_proxy(host: str, listen_port: int, target_port: int) -> None:
    """A CONNECT-only proxy: every tunnel goes to ``host:target_port`` whatever name was asked for."""
    import socket

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def serve(client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        if not head.upper().startswith(b"CONNECT "):
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            client.close()
            return
        upstream = socket.create_connection((host, target_port))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    server = socket.create_server((host, listen_port))
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """A one-day self-signed certificate for ``host`` (and localhost): cert.pem (the CA bundle), key.pem."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)),
                                                    x509.DNSName("localhost"),
                                                    *(x509.DNSName(f"{p}.{host}") for p in HOST_PREFIXES)]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


if __name__ == "__main__":
    sys.exit(main())
