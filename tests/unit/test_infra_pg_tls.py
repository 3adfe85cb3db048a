"""Aurora connections verify the server (sslmode=verify-full) against the RDS CA certificates eventbus ships,
which reach every deployable that connects (Lambda zips, the image and the DAG bundle all carry eventbus/)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from eventbus.settings import RDS_CA_BUNDLE, Settings


def test_verify_full_uses_the_shipped_rds_ca_bundle() -> None:
    dsn = Settings(profile="local", pg_sslmode="verify-full").pg_dsn()
    assert "sslmode=verify-full" in dsn and f"sslrootcert={RDS_CA_BUNDLE}" in dsn
    assert "sslmode" not in Settings(profile="local").pg_dsn()  # locally libpq's default, no TLS needed
    own = Settings(profile="local", pg_sslmode="verify-ca", pg_sslrootcert=Path("/etc/ca.pem")).pg_dsn()
    assert own.endswith("sslmode=verify-ca sslrootcert=/etc/ca.pem")


def test_the_bundle_holds_the_rds_roots_aurora_certificates_chain_to() -> None:
    certs = x509.load_pem_x509_certificates(RDS_CA_BUNDLE.read_bytes())
    names = {c.subject.rfc4514_string() for c in certs}
    # rds-ca-rsa2048-g1 is the default CA of new RDS/Aurora instances; its regional roots must be there
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        assert any(f"CN=Amazon RDS {region} Root CA RSA2048 G1" in n for n in names), region
    assert all(c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca for c in certs)
