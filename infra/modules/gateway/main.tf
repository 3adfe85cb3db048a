locals {
  function_name = "${var.name}-gateway"
}

# ---------------------------------------------------------------------------------------------
# API keys: the app checks the X-API-Key header against this JSON list (EB_GATEWAY_API_KEYS_SECRET_ARN).
# HTTP APIs have no usage-plan keys, so authentication lives in the app; API Gateway throttles.
# ---------------------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "api_keys" {
  name_prefix = "${var.name}/gateway-api-keys-"
  description = "API keys accepted by the ${var.name} gateway (JSON list of strings)."
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

# With no keys given, one is generated (Secrets Manager GetRandomPassword, ephemeral: not in state or
# plan). Referring to the secret defers generation to apply while the secret is new (offline plans
# never call AWS); the value is only written when the version below changes.
ephemeral "aws_secretsmanager_random_password" "generated_key" {
  password_length     = 40
  exclude_punctuation = true
  exclude_characters  = substr(aws_secretsmanager_secret.api_keys.arn, 0, 0)
}

locals {
  generate_key = length(var.api_keys) == 0
  # Changes exactly when the keys to store change: a hash of the given keys (48 bits of a SHA-256, not
  # the keys), or of the rotation counter when the key is generated.
  api_keys_version = parseint(substr(sha256(jsonencode(local.generate_key ? ["generated", var.key_rotation] : var.api_keys)), 0, 12), 16)
}

resource "aws_secretsmanager_secret_version" "api_keys" {
  secret_id                = aws_secretsmanager_secret.api_keys.id
  secret_string_wo         = jsonencode(local.generate_key ? ["gw-${ephemeral.aws_secretsmanager_random_password.generated_key.random_password}"] : var.api_keys)
  secret_string_wo_version = local.api_keys_version
}

# ---------------------------------------------------------------------------------------------
# Function
# ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "this" {
  # the catalog-derived Kafka/registry grants, plus reading the API keys as the authorizer does
  source_policy_documents = [var.policy_json, data.aws_iam_policy_document.authorizer.json]
}

module "function" {
  source = "../lambda_function"

  account_id = var.account_id

  function_name        = local.function_name
  description          = "Event gateway (FastAPI via mangum): validates, encodes Avro, produces to MSK."
  zip_path             = var.zip_path
  handler              = var.handler
  memory_size          = var.memory_size
  timeout              = var.timeout
  reserved_concurrency = var.reserved_concurrency
  environment = merge(var.environment, {
    EB_GATEWAY_API_KEYS_SECRET_ARN = aws_secretsmanager_secret.api_keys.arn
  })
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
  kms_key_arn        = var.kms_key_arn
  policy_json        = data.aws_iam_policy_document.this.json
  log_retention_days = var.log_retention_days
  tags               = var.tags
}

# ---------------------------------------------------------------------------------------------
# HTTP API -> Lambda (payload 2.0), throttled stage with JSON access logs
# ---------------------------------------------------------------------------------------------
resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  description   = "Event ingestion API of the travel data sources layer."
  protocol_type = "HTTP"
  tags          = var.tags
}

resource "aws_apigatewayv2_integration" "lambda" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = module.function.invoke_arn
  integration_method     = "POST"
  payload_format_version = "2.0"
  timeout_milliseconds   = var.timeout * 1000
}

# ---------------------------------------------------------------------------------------------
# Authorizer: API Gateway refuses a request without `x-api-key` itself (401, nothing invoked) and caches
# each key's verdict, so unauthenticated traffic never spends the gateway Lambda's concurrency. The
# authorizer is the gateway package's `lambdas.gateway.authorizer` (same key check as the app).
# ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "authorizer" {
  statement {
    sid       = "ReadApiKeys"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [aws_secretsmanager_secret.api_keys.arn]
  }
}

module "authorizer" {
  source = "../lambda_function"

  account_id = var.account_id

  function_name = "${local.function_name}-authorizer"
  description   = "HTTP API authorizer: checks x-api-key against the gateway's key secret."
  zip_path      = var.zip_path
  handler       = "lambdas.gateway.authorizer.handler"
  memory_size   = 256
  timeout       = 10
  environment = {
    EB_PROFILE                     = "aws"
    EB_AWS_REGION                  = lookup(var.environment, "EB_AWS_REGION", "")
    EB_LOG_LEVEL                   = lookup(var.environment, "EB_LOG_LEVEL", "INFO")
    EB_GATEWAY_API_KEYS_SECRET_ARN = aws_secretsmanager_secret.api_keys.arn
  }
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
  kms_key_arn        = var.kms_key_arn
  policy_json        = data.aws_iam_policy_document.authorizer.json
  log_retention_days = var.log_retention_days
  tags               = var.tags
}

resource "aws_apigatewayv2_authorizer" "api_key" {
  api_id                            = aws_apigatewayv2_api.this.id
  name                              = "api-key"
  authorizer_type                   = "REQUEST"
  authorizer_uri                    = module.authorizer.invoke_arn
  identity_sources                  = ["$request.header.x-api-key"]
  authorizer_payload_format_version = "2.0"
  enable_simple_responses           = true
  authorizer_result_ttl_in_seconds  = var.authorizer_cache_seconds
}

resource "aws_lambda_permission" "authorizer" {
  statement_id  = "AllowHttpApiAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = module.authorizer.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.api_key.id}"
}

# Every path goes to the app behind the authorizer; only the health probe is open.
resource "aws_apigatewayv2_route" "default" {
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "$default"
  target             = "integrations/${aws_apigatewayv2_integration.lambda.id}"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.api_key.id
}

resource "aws_apigatewayv2_route" "health" {
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "GET /health"
  target             = "integrations/${aws_apigatewayv2_integration.lambda.id}"
  authorization_type = "NONE"
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit    = var.throttling_rate_limit
    throttling_burst_limit   = var.throttling_burst_limit
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      path               = "$context.path"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      latencyMs          = "$context.responseLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      userAgent          = "$context.identity.userAgent"
    })
  }

  tags = var.tags
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = module.function.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
