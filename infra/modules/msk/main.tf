locals {
  provisioned = var.serverless ? 0 : 1
  cluster_arn = var.serverless ? aws_msk_serverless_cluster.this[0].arn : aws_msk_cluster.this[0].arn
  # IAM resource ARNs for topics and groups share the cluster's name/uuid path.
  topic_arn_prefix = replace(local.cluster_arn, ":cluster/", ":topic/")
  group_arn_prefix = replace(local.cluster_arn, ":cluster/", ":group/")

  # A replication factor above the broker count fails every topic creation (2 brokers + RF 3).
  replication_factor = min(3, var.broker_count)
  server_properties = merge({
    "auto.create.topics.enable"      = "false"
    "default.replication.factor"     = tostring(local.replication_factor)
    "min.insync.replicas"            = tostring(max(1, local.replication_factor - 1))
    "num.partitions"                 = "3"
    "unclean.leader.election.enable" = "false"
  }, var.server_properties)
}

# ---------------------------------------------------------------------------------------------
# MSK Serverless (default): IAM auth only, TLS in transit, encrypted at rest by the service
# ---------------------------------------------------------------------------------------------
resource "aws_msk_serverless_cluster" "this" {
  count        = var.serverless ? 1 : 0
  cluster_name = var.name

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  client_authentication {
    sasl {
      iam {
        enabled = true
      }
    }
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------
# Provisioned (option): TLS + IAM, KMS at rest, broker logs
# ---------------------------------------------------------------------------------------------
resource "aws_msk_configuration" "this" {
  count             = local.provisioned
  name              = "${var.name}-${replace(var.kafka_version, ".", "-")}"
  kafka_versions    = [var.kafka_version]
  server_properties = join("\n", [for k, v in local.server_properties : "${k}=${v}"])

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = tonumber(local.server_properties["default.replication.factor"]) <= var.broker_count
      error_message = "default.replication.factor (${local.server_properties["default.replication.factor"]}) exceeds broker_count (${var.broker_count}): every topic creation would fail."
    }
    precondition {
      condition     = tonumber(local.server_properties["min.insync.replicas"]) <= tonumber(local.server_properties["default.replication.factor"])
      error_message = "min.insync.replicas exceeds default.replication.factor: acks=all producers could never write."
    }
  }
}

resource "aws_cloudwatch_log_group" "broker" {
  count             = local.provisioned
  name              = "/aws/msk/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_msk_cluster" "this" {
  count                  = local.provisioned
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count
  enhanced_monitoring    = "PER_TOPIC_PER_PARTITION"

  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = var.security_group_ids
    storage_info {
      ebs_storage_info {
        volume_size = var.broker_volume_size_gb
      }
    }
    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      iam = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = var.kms_key_arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this[0].arn
    revision = aws_msk_configuration.this[0].latest_revision
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.broker[0].name
      }
    }
  }

  open_monitoring {
    prometheus {
      jmx_exporter {
        enabled_in_broker = true
      }
      node_exporter {
        enabled_in_broker = true
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.broker_count % length(var.subnet_ids) == 0
      error_message = "broker_count (${var.broker_count}) must be a multiple of the number of subnets (${length(var.subnet_ids)})."
    }
    precondition {
      condition     = var.kms_key_arn != null
      error_message = "A provisioned cluster needs kms_key_arn for encryption at rest."
    }
  }

  tags = var.tags
}
