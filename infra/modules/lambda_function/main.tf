# ---------------------------------------------------------------------------------------------
# A Python Lambda in the VPC, built from a `make package` zip: role, log group, function.
# Shared by the gateway, bootstrap and simulator-burst functions.
# ---------------------------------------------------------------------------------------------
data "aws_partition" "current" {}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.function_name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_region" "current" {}

locals {
  ec2_arn = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${var.account_id}"
}

data "aws_iam_policy_document" "base" {
  source_policy_documents = [var.policy_json]
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
  statement {
    sid       = "UseLayerKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  # In place of the AWS-managed AWSLambdaVPCAccessExecutionRole (ec2 + logs on `*`): the ENI actions
  # Lambda needs for a VPC function, on this account's network interfaces and the function's own
  # subnets and security groups (Lambda developer guide, "Execution role and user permissions").
  statement {
    sid       = "ManageVpcEnis"
    actions   = ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    resources = concat(["${local.ec2_arn}:network-interface/*"], [for s in var.subnet_ids : "${local.ec2_arn}:subnet/${s}"], [for g in var.security_group_ids : "${local.ec2_arn}:security-group/${g}"])
  }
  statement {
    sid       = "DescribeEnis"
    actions   = ["ec2:DescribeNetworkInterfaces"]
    resources = ["*"] # "only works if it's allowed on all resources" (Lambda developer guide)
  }
  # In place of the AWS-managed AWSXRayDaemonWriteAccess: just the two writes active tracing uses.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these actions
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "app"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.base.json
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  function_name    = var.function_name
  description      = var.description
  role             = aws_iam_role.this.arn
  runtime          = var.runtime
  architectures    = ["x86_64"]
  handler          = var.handler
  filename         = var.zip_path
  source_code_hash = fileexists(var.zip_path) ? filebase64sha256(var.zip_path) : null
  memory_size      = var.memory_size
  timeout          = var.timeout
  kms_key_arn      = var.kms_key_arn

  # -1 = no reservation (the provider's default). A reservation must leave the account 100 unreserved
  # (Lambda developer guide, "Configuring reserved concurrency"), which a new account (quota 10) cannot.
  reserved_concurrent_executions = coalesce(var.reserved_concurrency, -1)

  environment {
    variables = var.environment
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.log_level
    system_log_level      = "WARN"
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]

  lifecycle {
    precondition {
      condition     = fileexists(var.zip_path)
      error_message = "Deployment package ${var.zip_path} does not exist: run `make package` first."
    }
  }
}
