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
  final_snapshot_identifier = "${var.name}-final"

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
  engine_version     = aws_rds_cluster.this.engine_version

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
# Replication user secret for the CDC relay. Terraform holds the password (generated from two
# crypto-random UUIDs, kept stable), so keep state in an encrypted backend. The role itself is
# created in the database by the bootstrap step (CREATE ROLE ... LOGIN; GRANT rds_replication).
# ---------------------------------------------------------------------------------------------
resource "terraform_data" "replication_password" {
  input = "${replace(uuid(), "-", "")}${replace(uuid(), "-", "")}"

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_secretsmanager_secret" "replication" {
  name_prefix = "${var.name}/cdc-replication-"
  description = "Login of the CDC relay's replication role in ${var.name} (JSON: username, password, host, port, dbname)."
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "replication" {
  secret_id = aws_secretsmanager_secret.replication.id
  secret_string_wo = jsonencode({
    username = var.replication_username
    password = terraform_data.replication_password.output
    engine   = "postgres"
    host     = aws_rds_cluster.this.endpoint
    port     = aws_rds_cluster.this.port
    dbname   = var.database_name
  })
  secret_string_wo_version = 1
}
