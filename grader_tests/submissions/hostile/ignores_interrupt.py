# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# An endless loop that ignores the interrupt: the cell times out, the rest is not run, q1 is kept.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
