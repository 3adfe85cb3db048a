# ---------------------------------------------------------------------------------------------
# EMR Serverless Spark application for the Structured Streaming jobs in emr_jobs/.
# Job runs (mode STREAMING) are started by `make deploy` (python -m emr_jobs.submit, which replaces a
# job's running run); they log to the log group below (cloudWatchLoggingConfiguration, EB_SPARK_EMR_LOG_GROUP).
# ---------------------------------------------------------------------------------------------
resource "aws_emrserverless_application" "this" {
  name          = var.name
  release_label = var.release_label
  type          = "spark"
  architecture  = "X86_64"

  maximum_capacity {
    cpu    = var.max_cpu
    memory = var.max_memory
  }

  auto_start_configuration {
    enabled = true
  }

  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.idle_timeout_minutes
  }

  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  dynamic "image_configuration" {
    for_each = var.image_uri == null ? [] : [var.image_uri]
    content {
      image_uri = image_configuration.value
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(var.entry_points) > 0
      error_message = "No Spark job entry points: `make package` lists them in dist/emr/entrypoints.json (top-level emr_jobs/*.py files with a __main__ guard). Add the jobs and re-run `make package`."
    }
  }
}

resource "aws_cloudwatch_log_group" "jobs" {
  name              = "/aws/emr-serverless/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_emrserverless_application.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-emr-job"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  source_policy_documents = [var.kafka_policy_json]

  statement {
    sid       = "ReadJobCode"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [var.artifacts_bucket_arn, "${var.artifacts_bucket_arn}/*"]
  }
  statement {
    sid       = "ListLakeAndCheckpoints"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn, var.checkpoint_bucket_arn]
  }
  # The jobs write only the lake's processed zone (EB_SPARK_LAKE_ROOT = s3://<lake>/<lake_write_prefix>), the
  # prefix the lake's lifecycle rule covers; the raw/ zone (the DAGs' landing copy) is out of their reach.
  # Spark's file sink rewrites its _spark_metadata logs and the checkpoints, so both also get deletes.
  statement {
    sid       = "ReadWriteProcessedZoneAndCheckpoints"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.lake_bucket_arn}/${var.lake_write_prefix}*", "${var.checkpoint_bucket_arn}/*"]
  }
  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.jobs.arn}:*"]
  }
  statement {
    sid       = "DescribeLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = [aws_cloudwatch_log_group.jobs.arn]
  }
  statement {
    sid       = "UseLayerKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "spark-jobs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}
