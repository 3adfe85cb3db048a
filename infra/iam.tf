# ---------------------------------------------------------------------------------------------
# Least-privilege policies for the data path, one per workload. MSK IAM actions are scoped to
# the cluster, the workload's topics and the cluster's consumer groups; Glue to the registry;
# secrets to the ones the workload reads. Service-specific extras live in the modules.
# ---------------------------------------------------------------------------------------------
locals {
  glue_prefix   = "arn:${local.partition}:glue:${var.region}:${local.account_id}"
  registry_arn  = "${local.glue_prefix}:registry/${var.registry_name}"
  schemas_arn   = "${local.glue_prefix}:schema/${var.registry_name}/*"
  topic_arn     = { for t in local.topics : t => "${module.msk.topic_arn_prefix}/${t}" }
  all_topic_arn = values(local.topic_arn)

  # Secrets each workload reads (besides its own module-managed ones).
  workload_secrets = {
    gateway    = []
    simulators = [module.aurora.master_secret_arn, module.gateway.api_keys_secret_arn]
    cdc_relay  = [module.aurora.replication_secret_arn]
    mwaa       = []
    emr        = []
  }
}

data "aws_iam_policy_document" "workload" {
  for_each = var.topic_access

  statement {
    sid       = "KafkaConnect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [module.msk.cluster_arn]
  }

  dynamic "statement" {
    for_each = length(each.value.write) > 0 ? [1] : []
    content {
      sid       = "KafkaIdempotentProducer"
      actions   = ["kafka-cluster:WriteDataIdempotently"]
      resources = [module.msk.cluster_arn]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.write) > 0 ? [1] : []
    content {
      sid       = "KafkaWrite"
      actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
      resources = [for t in each.value.write : "${module.msk.topic_arn_prefix}/${t}"]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.read) > 0 ? [1] : []
    content {
      sid       = "KafkaRead"
      actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
      resources = [for t in each.value.read : "${module.msk.topic_arn_prefix}/${t}"]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.read) > 0 ? [1] : []
    content {
      sid       = "KafkaConsumerGroups"
      actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
      resources = ["${module.msk.group_arn_prefix}/*"]
    }
  }

  statement {
    sid       = "SchemaRegistryRead"
    actions   = ["glue:GetRegistry", "glue:GetSchema", "glue:GetSchemaByDefinition", "glue:GetSchemaVersion", "glue:ListSchemaVersions"]
    resources = [local.registry_arn, local.schemas_arn]
  }

  dynamic "statement" {
    for_each = length(lookup(local.workload_secrets, each.key, [])) > 0 ? [1] : []
    content {
      sid       = "ReadSecrets"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = local.workload_secrets[each.key]
    }
  }

  lifecycle {
    precondition {
      condition     = alltrue([for t in concat(each.value.write, each.value.read) : contains(local.topics, t)])
      error_message = "topic_access[\"${each.key}\"] names topics missing from the catalog (${local.catalog_path}): ${join(", ", [for t in concat(each.value.write, each.value.read) : t if !contains(local.topics, t)])}."
    }
    precondition {
      condition     = contains(keys(local.workload_secrets), each.key)
      error_message = "topic_access has an unknown workload \"${each.key}\" (known: ${join(", ", keys(local.workload_secrets))})."
    }
  }
}

# Bootstrap: topic administration for every catalog topic, schema registration, DB secrets.
data "aws_iam_policy_document" "bootstrap" {
  statement {
    sid       = "KafkaConnect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [module.msk.cluster_arn]
  }
  statement {
    sid = "KafkaTopicAdmin"
    actions = [
      "kafka-cluster:CreateTopic", "kafka-cluster:AlterTopic", "kafka-cluster:DescribeTopic",
      "kafka-cluster:DescribeTopicDynamicConfiguration", "kafka-cluster:AlterTopicDynamicConfiguration",
    ]
    resources = local.all_topic_arn
  }
  statement {
    sid = "SchemaRegistryWrite"
    actions = [
      "glue:GetRegistry", "glue:GetSchema", "glue:GetSchemaByDefinition", "glue:GetSchemaVersion",
      "glue:ListSchemaVersions", "glue:CreateSchema", "glue:RegisterSchemaVersion", "glue:PutSchemaVersionMetadata",
    ]
    resources = [local.registry_arn, local.schemas_arn]
  }
  statement {
    sid       = "ReadDatabaseSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [module.aurora.master_secret_arn, module.aurora.replication_secret_arn]
  }
}

# MWAA: the DAGs produce external data, land raw copies in the lake, and start EMR job runs.
data "aws_iam_policy_document" "mwaa_app" {
  source_policy_documents = [data.aws_iam_policy_document.workload["mwaa"].json]

  statement {
    sid       = "LandRawExternalData"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]
    resources = [module.storage.bucket_arns["lake"], "${module.storage.bucket_arns["lake"]}/raw/*"]
  }
  statement {
    sid       = "StartSparkJobs"
    actions   = ["emr-serverless:StartJobRun", "emr-serverless:GetJobRun", "emr-serverless:CancelJobRun", "emr-serverless:GetApplication"]
    resources = [module.emr.application_arn, "${module.emr.application_arn}/jobruns/*"]
  }
  statement {
    sid       = "PassSparkRole"
    actions   = ["iam:PassRole"]
    resources = [module.emr.execution_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["emr-serverless.amazonaws.com"]
    }
  }
}
