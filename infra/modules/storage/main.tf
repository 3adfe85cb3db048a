locals {
  # purpose => bucket prefix. MWAA requires its bucket name to start with "airflow-".
  buckets = {
    lake        = "${var.name}-lake-"
    checkpoints = "${var.name}-checkpoints-"
    artifacts   = "${var.name}-artifacts-"
    mwaa        = "airflow-${var.name}-"
  }
  lake_glacier = var.lake_glacier_days == null ? [] : [var.lake_glacier_days]
  # The lake's zones: raw/ (landing copy of the sources, written by the DAGs) and processed/ (what the
  # Spark jobs write: EB_SPARK_LAKE_ROOT). One home for the prefixes the lifecycle rules, the IAM grants
  # (modules/emr, modules/mwaa via the root) and the jobs' settings use.
  zones = { raw = "raw/", processed = "processed/" }
}

# ---------------------------------------------------------------------------------------------
# Access-log bucket: the target of S3 server access logging. SSE-KMS with the layer key like every
# other bucket: the key policy lets logging.s3.amazonaws.com generate data keys (modules/kms).
# ---------------------------------------------------------------------------------------------
resource "aws_s3_bucket" "logs" {
  bucket_prefix = "${var.name}-s3-access-logs-"
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { Purpose = "s3-access-logs" })
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket     = aws_s3_bucket.logs.id
  depends_on = [aws_s3_bucket_versioning.logs]
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "S3ServerAccessLogsDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [for b in aws_s3_bucket.this : b.arn]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

# ---------------------------------------------------------------------------------------------
# Data buckets: lake (raw/ + processed/ zones), Spark checkpoints, artifacts, MWAA
# ---------------------------------------------------------------------------------------------
resource "aws_s3_bucket" "this" {
  for_each      = local.buckets
  bucket_prefix = each.value
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { Purpose = each.key })
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.buckets
  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.this[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

# S3 refuses PutBucketLogging (InvalidTargetBucketForLogging) until the target bucket's policy lets the
# logging service write: the policy (and ownership controls) first.
resource "aws_s3_bucket_logging" "this" {
  for_each      = local.buckets
  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${each.key}/"
  depends_on    = [aws_s3_bucket_policy.logs, aws_s3_bucket_ownership_controls.logs]
}

data "aws_iam_policy_document" "tls_only" {
  for_each = local.buckets
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[each.key].arn, "${aws_s3_bucket.this[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each   = local.buckets
  bucket     = aws_s3_bucket.this[each.key].id
  policy     = data.aws_iam_policy_document.tls_only[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# --- lifecycle: one resource per bucket, since each has its own rules --------------------------
resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket     = aws_s3_bucket.this["lake"].id
  depends_on = [aws_s3_bucket_versioning.this]

  rule {
    id     = "raw-zone-tiering"
    status = "Enabled"
    filter {
      prefix = local.zones.raw
    }
    transition {
      days          = var.lake_raw_transition_days
      storage_class = "STANDARD_IA"
    }
    dynamic "transition" {
      for_each = local.lake_glacier
      content {
        days          = transition.value
        storage_class = "GLACIER_IR"
      }
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "processed-zone-tiering"
    status = "Enabled"
    filter {
      prefix = local.zones.processed
    }
    transition {
      days          = var.lake_processed_transition_days
      storage_class = "STANDARD_IA"
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "everything-else"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# Checkpoints never expire while current: a RocksDB state store keeps referencing files written long ago
# (its SST files live as long as the keys in them), so age-based expiry of current objects would make
# booking/user state unrestorable. Spark deletes what it no longer needs; those deletes leave
# non-current versions (expired after a few days) and delete markers (removed once alone).
resource "aws_s3_bucket_lifecycle_configuration" "checkpoints" {
  bucket     = aws_s3_bucket.this["checkpoints"].id
  depends_on = [aws_s3_bucket_versioning.this]
  rule {
    id     = "expire-deleted-checkpoint-files"
    status = "Enabled"
    filter {}
    expiration {
      expired_object_delete_marker = true
    }
    noncurrent_version_expiration {
      noncurrent_days = var.checkpoint_noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "versioned_only" {
  for_each   = toset(["artifacts", "mwaa"])
  bucket     = aws_s3_bucket.this[each.key].id
  depends_on = [aws_s3_bucket_versioning.this]
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}
