"""The Dagster layer. It uses some of Dagster's beta/preview APIs on purpose (partitioned asset
checks, the multi-to-single-dimension mapping, backfill policies); their warnings at every
definitions load tell a user nothing they can act on, so they stay out of the terminal."""
import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
