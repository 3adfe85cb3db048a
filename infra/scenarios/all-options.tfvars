# Offline-plan scenario for `make tf-check`: every optional resource switched on (and the
# defaults that have alternatives switched over), so together with the default plan every
# resource block in the modules is planned. Not meant for a real deployment as is.
environment           = "ci"
msk_serverless        = false # provisioned MSK: TLS + IAM, KMS at rest, broker logs
msk_kafka_version     = "3.9.x"
msk_broker_count      = 2
enable_nat_gateway    = false # private-only: ECR and the MWAA/monitoring APIs through endpoints
interface_endpoints   = ["secretsmanager", "glue", "sts", "logs", "ecr.api", "ecr.dkr", "kms", "sqs", "monitoring", "airflow.api", "airflow.env", "airflow.ops"]
aurora_instance_count = 2
deletion_protection   = false
skip_final_snapshot   = true
force_destroy_buckets = true
alarm_emails          = ["data-oncall@example.com"]
consumer_lag_groups   = { "travel-ds-sessions" = "topic_clickstream" }
container_image       = "public.ecr.aws/docker/library/python:3.12-slim"
gateway_api_keys      = ["ci-example-key-not-secret"]
# reservations need an account quota above 100 + the sum (a new account has 10): only after an increase
lambda_reserved_concurrency = { gateway = 50, bootstrap = 1, burst = 2 }
