"""EMR Serverless entry point (``entryPoint`` of the job run; emr_jobs itself comes in pyfiles.zip).

    spark-submit --py-files pyfiles.zip --jars ... main.py run --jobs app_events
"""


from emr_jobs.__main__ import main
from eventbus.cli import exit_with

if __name__ == "__main__":
    exit_with(main)
