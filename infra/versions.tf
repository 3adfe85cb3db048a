terraform {
  # 1.11: write-only arguments keep generated secrets out of the secret-version resources.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.90, < 6.0"
    }
  }

  # Configure a remote backend (encrypted S3 + lock) for real deployments, e.g.:
  # backend "s3" { bucket = "..." key = "travel-data-sources/terraform.tfstate" region = "..." encrypt = true use_lockfile = true }
}
