# ---------------------------------------------------------------------------------------------
# Least-privilege policies for the data path, one per workload. MSK IAM actions are scoped to
# the cluster, the topics the catalog lets the workload's component write/read and its own consumer
# groups; Glue to the registry; secrets to the ones the workload reads. Service-specific extras live
# in the modules.
# ---------------------------------------------------------------------------------------------
locals {
  glue_prefix   = "arn:${local.partition}:glue:${var.region}:${local.account_id}"
  registry_arn  = "${local.glue_prefix}:registry/${var.registry_name}"
  schemas_arn   = "${local.glue_prefix}:schema/${var.registry_name}/*"
  topic_arn     = { for t in local.topics : t => "${module.msk.topic_arn_prefix}/${t}" }
  all_topic_arn = values(local.topic_arn)

  # --- topic access, derived from the catalog (schemas/topics.yaml: components, writers, readers) ---
  # The AWS workload (one IAM policy each) that runs each catalog component. `console` runs locally
  # only; `bootstrap` administers every topic through its own policy below.
  workload_component    = { gateway = "gateway", simulators = "simulators", cdc_relay = "cdc", mwaa = "dags", emr = "spark" }
  local_only_components = ["console", "bootstrap", "verify"] # verify: run by an operator with their own credentials
  catalog_components    = try(local.catalog.components, {})
  topic_access = {
    for wl, comp in local.workload_component : wl => {
      component = comp
      write     = sort([for t, s in local.catalog.topics : t if contains(try(s.writers, []), comp)])
      read      = sort([for t, s in local.catalog.topics : t if contains(try(s.readers, []), comp)])
      groups    = try(local.catalog_components[comp].groups, null)
    }
  }
  unmapped_components = sort([for c in keys(local.catalog_components) : c if !contains(concat(values(local.workload_component), local.local_only_components), c)])

  # Secrets each workload reads (besides its own module-managed ones). Each workload that logs in to
  # Aurora has its own role, never the master user: the simulators' OLTP workload a DML-only role, the
  # CDC relay the replication role, the DAGs (MWAA) a read-only role.
  workload_secrets = {
    gateway    = []
    simulators = [module.aurora.app_secret_arn, module.gateway.api_keys_secret_arn]
    cdc_relay  = [module.aurora.replication_secret_arn]
    mwaa       = [module.aurora.dags_secret_arn]
    emr        = []
  }
}

# Decoding looks a schema up by the version id in the record (eventbus/registry.py:
# GetSchemaVersion(SchemaVersionId=...)); in that form Glue authorizes against `*` only, the
# registry/schema ARNs do not match (awslabs/aws-glue-schema-registry#68; AWS's deserializer example
# grants glue:GetSchemaVersion on "*"). That one action, alone in its statement, is all that gets `*`.
data "aws_iam_policy_document" "schema_version_by_id" {
  #checkov:skip=CKV_AWS_356:glue:GetSchemaVersion by SchemaVersionId is authorized against * only (awslabs/aws-glue-schema-registry#68)
  statement {
    sid       = "SchemaVersionById"
    actions   = ["glue:GetSchemaVersion"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "workload" {
  for_each                = local.topic_access
  source_policy_documents = [data.aws_iam_policy_document.schema_version_by_id.json]

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

  # Only the reader's own consumer groups (the catalog's `groups` prefix of its component).
  dynamic "statement" {
    for_each = length(each.value.read) > 0 ? [1] : []
    content {
      sid       = "KafkaConsumerGroups"
      actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
      resources = ["${module.msk.group_arn_prefix}/${coalesce(each.value.groups, "-")}*"]
    }
  }

  statement {
    sid       = "SchemaRegistryRead"
    actions   = ["glue:GetRegistry", "glue:GetSchema", "glue:GetSchemaByDefinition", "glue:ListSchemaVersions"]
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
      condition     = length(local.unmapped_components) == 0
      error_message = "The catalog (${local.catalog_path}) declares components no AWS workload runs: ${join(", ", local.unmapped_components)}. Map them in local.workload_component (infra/iam.tf) or list them as local-only."
    }
    precondition {
      condition     = length(each.value.read) == 0 || each.value.groups != null
      error_message = "Component ${each.value.component} reads ${join(", ", each.value.read)} but declares no consumer-group prefix (`groups:` under components in ${local.catalog_path})."
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
    resources = [module.aurora.master_secret_arn, module.aurora.replication_secret_arn, module.aurora.app_secret_arn, module.aurora.dags_secret_arn]
  }
}

# MWAA: the DAGs produce external data and land raw copies in the lake's raw zone (put, and get what they
# just put: mwaa_dags/extdata/records.py); a rerun lists and replaces only its own interval's raw objects
# (ListBucket under the raw prefix, DeleteObject on raw/*: modules/mwaa). They submit no Spark jobs (no EMR
# grants).
data "aws_iam_policy_document" "mwaa_app" {
  source_policy_documents = [data.aws_iam_policy_document.workload["mwaa"].json]

  statement {
    sid       = "LandRawExternalData"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${module.storage.bucket_arns["lake"]}/${module.storage.lake_zones.raw}*"]
  }
}
