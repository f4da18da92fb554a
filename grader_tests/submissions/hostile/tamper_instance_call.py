# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: carries its own __call__, call, predict in place of its class
# Gives the fresh-layer model3 an instance-level call that answers with model2's outputs: in the kernel model3
# now behaves like a shared one, but the grader rebuilds model3 from its layers and sees the fresh one. The
# export now says the object carries methods of its own (Keras would run those), and does not describe it.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
model3.call = lambda inputs, *args, **kwargs: model2(inputs)
model3.__call__ = lambda inputs, *args, **kwargs: model2(inputs)
model3.predict = lambda inputs, *args, **kwargs: model2.predict(inputs, verbose=0)
