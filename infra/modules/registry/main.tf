locals {
  catalog = yamldecode(file(var.catalog_path))
  # Schema files present on disk, and topic => schema file from the catalog.
  avsc_files   = fileset(var.schemas_dir, "*.avsc")
  topic_schema = { for topic, spec in local.catalog.topics : topic => spec.schema }
  missing      = [for t, f in local.topic_schema : "${t} -> ${f}" if !contains(local.avsc_files, f)]
  unused       = setsubtract(local.avsc_files, values(local.topic_schema))
}

resource "aws_glue_registry" "this" {
  registry_name = var.registry_name
  description   = "Avro schemas of the travel data sources layer (one per Kafka topic)."
  tags          = var.tags
}

# One schema per topic, named after the topic (the serde looks schemas up by topic name).
resource "aws_glue_schema" "this" {
  for_each      = local.topic_schema
  schema_name   = each.key
  registry_arn  = aws_glue_registry.this.arn
  data_format   = "AVRO"
  compatibility = var.compatibility
  # A missing file is reported by the precondition below rather than by file()'s bare error.
  schema_definition = contains(local.avsc_files, each.value) ? file("${var.schemas_dir}/${each.value}") : "{}"
  description       = "Value schema of ${each.key} (${each.value})."
  tags              = var.tags

  lifecycle {
    precondition {
      condition     = length(local.missing) == 0
      error_message = "The catalog names schema files that do not exist in ${var.schemas_dir}: ${join(", ", local.missing)}."
    }
  }
}
