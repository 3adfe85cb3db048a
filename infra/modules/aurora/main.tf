locals {
  family = "aurora-postgresql${split(".", var.engine_version)[0]}"
}

# ---------------------------------------------------------------------------------------------
# Parameters: logical replication for the CDC relay (pgoutput), TLS only, DDL + slow query logs
# ---------------------------------------------------------------------------------------------
resource "aws_rds_cluster_parameter_group" "this" {
  name_prefix = "${var.name}-"
  family      = local.family
  description = "${var.name}: logical replication on, TLS required, query logging"

  parameter {
    name         = "rds.logical_replication"
    value        = "1"
    apply_method = "pending-reboot"
  }
  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "pending-reboot"
  }
  parameter {
    name         = "log_statement"
    value        = "ddl"
    apply_method = "pending-reboot"
  }
  parameter {
    name         = "log_min_duration_statement"
    value        = "1000"
    apply_method = "pending-reboot"
  }
  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-"
  description = "${var.name} private subnets"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

# Created before the cluster so it carries retention and the KMS key.
resource "aws_cloudwatch_log_group" "postgresql" {
  name              = "/aws/rds/cluster/${var.name}/postgresql"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---------------------------------------------------------------------------------------------
# Cluster + Serverless v2 instances
# ---------------------------------------------------------------------------------------------
# The final snapshot's name carries the time the cluster was first planned: a fixed name fails the
# second destroy (DBClusterSnapshotAlreadyExists from the first one), and a name computed on every
# plan would change the cluster on every apply. Set once, kept (ignore_changes).
resource "terraform_data" "final_snapshot_suffix" {
  input = formatdate("YYYYMMDDhhmmss", plantimestamp())
  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_rds_cluster" "this" {
  cluster_identifier = var.name
  engine             = "aurora-postgresql"
  engine_mode        = "provisioned"
  engine_version     = var.engine_version
  database_name      = var.database_name
  port               = 5432

  master_username               = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  iam_database_authentication_enabled = true
  storage_encrypted                   = true
  kms_key_id                          = var.kms_key_arn

  db_subnet_group_name            = aws_db_subnet_group.this.name
  vpc_security_group_ids          = var.security_group_ids
  db_cluster_parameter_group_name = aws_rds_cluster_parameter_group.this.name

  backup_retention_period   = var.backup_retention_days
  preferred_backup_window   = var.preferred_backup_window
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = var.skip_final_snapshot
  final_snapshot_identifier = "${var.name}-final-${terraform_data.final_snapshot_suffix.output}"

  enabled_cloudwatch_logs_exports = ["postgresql"]

  serverlessv2_scaling_configuration {
    min_capacity = var.min_capacity
    max_capacity = var.max_capacity
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.postgresql]

  lifecycle {
    precondition {
      condition     = var.max_capacity >= var.min_capacity
      error_message = "max_capacity must be >= min_capacity."
    }
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  count              = var.monitoring_interval > 0 ? 1 : 0
  name_prefix        = "${substr(var.name, 0, 20)}-rds-mon-"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

data "aws_partition" "current" {}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count      = var.monitoring_interval > 0 ? 1 : 0
  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_rds_cluster_instance" "this" {
  count              = var.instance_count
  identifier         = "${var.name}-${count.index + 1}"
  cluster_identifier = aws_rds_cluster.this.id
  instance_class     = "db.serverless"
  engine             = aws_rds_cluster.this.engine
  # No engine_version here: instances run the cluster's, and the cluster pins only the major, so an
  # automatic minor upgrade (below) never shows up as a downgrade on the next apply.

  publicly_accessible          = false
  auto_minor_version_upgrade   = true
  performance_insights_enabled = true
  # 7 days is the free tier; longer retention is billed.
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7
  monitoring_interval                   = var.monitoring_interval
  monitoring_role_arn                   = var.monitoring_interval > 0 ? aws_iam_role.monitoring[0].arn : null

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------
# Login-role secrets (created in the database by the bootstrap step from these secrets):
#   replication  the CDC relay: LOGIN + rds_replication + SELECT on the published tables
#   app          the OLTP workload (simulators): DML on the OLTP tables only, never the master user
#   dags         the DAGs on MWAA (maps popularity): SELECT on the tables they query, nothing else
# Passwords come from an ephemeral Secrets Manager GetRandomPassword and reach the secret through a
# write-only argument: neither is stored in the state or the plan. The secret is rewritten exactly when
# `secret_string_wo_version` changes, and that version is derived from what the secret holds besides
# the password (user, endpoint, port, database) and `password_rotation`: a changed endpoint or a bumped
# rotation writes a new secret (with a new password, which the bootstrap re-applies to the role).
# ---------------------------------------------------------------------------------------------
locals {
  login_roles = {
    replication = { username = var.replication_username, purpose = "the CDC relay's replication role" }
    app         = { username = var.app_username, purpose = "the OLTP workload's DML-only role" }
    dags        = { username = var.dags_username, purpose = "the DAGs' read-only role" }
  }
  # Secret name prefixes (the existing ones keep their names: a new prefix would replace the secret).
  login_secret_prefix = { replication = "cdc-replication", app = "oltp-app", dags = "dags-reader" }
  login_secret_public = {
    for k, r in local.login_roles : k => {
      username = r.username
      engine   = "postgres"
      host     = aws_rds_cluster.this.endpoint
      port     = aws_rds_cluster.this.port
      dbname   = var.database_name
    }
  }
}

resource "aws_secretsmanager_secret" "login" {
  for_each    = local.login_roles
  name_prefix = "${var.name}/${local.login_secret_prefix[each.key]}-"
  description = "Login of ${each.value.purpose} in ${var.name} (JSON: username, password, host, port, dbname)."
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

ephemeral "aws_secretsmanager_random_password" "login" {
  for_each            = local.login_roles
  password_length     = 40
  exclude_punctuation = true # the password goes into a libpq key=value DSN unquoted
  # Refers to the secret so that, while the secret is still to be created, the password is generated
  # at apply rather than at plan (an offline plan never calls AWS). Always the empty string.
  exclude_characters = substr(aws_secretsmanager_secret.login[each.key].arn, 0, 0)
}

resource "aws_secretsmanager_secret_version" "login" {
  for_each  = local.login_roles
  secret_id = aws_secretsmanager_secret.login[each.key].id
  secret_string_wo = jsonencode(merge(local.login_secret_public[each.key], {
    password = ephemeral.aws_secretsmanager_random_password.login[each.key].random_password
  }))
  secret_string_wo_version = parseint(substr(sha256(jsonencode([local.login_secret_public[each.key], var.password_rotation])), 0, 12), 16)
}

moved {
  from = aws_secretsmanager_secret.replication
  to   = aws_secretsmanager_secret.login["replication"]
}

moved {
  from = aws_secretsmanager_secret_version.replication
  to   = aws_secretsmanager_secret_version.login["replication"]
}
