"""Child script for the bench: one boto3 ``upload_file`` with TransferConfig defaults.

Usage: boto3_upload.py FILE BUCKET KEY   (endpoint and credentials from S3_ENDPOINT_URL / AWS_* variables)
"""

from __future__ import annotations

import os
import sys

import boto3


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, bucket, key = argv
    client = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"])
    client.upload_file(path, bucket, key)  # TransferConfig() defaults, on purpose
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
