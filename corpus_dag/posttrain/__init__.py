"""Post-training data from the math branch: critique + reward scoring, RFT paths, DPO pairs, self-instruct."""
