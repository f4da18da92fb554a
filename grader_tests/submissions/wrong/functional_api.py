# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
# shares the layer, but with the functional API instead of Sequential
inputs = Input(shape=[1])
model3 = Model(inputs=inputs, outputs=Flatten()(embedding_layer(inputs)))
