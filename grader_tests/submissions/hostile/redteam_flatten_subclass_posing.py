# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: a class posing as keras.src.layers.reshaping.flatten.Flatten
# twin: counts_both_models_fresh_layer
# A subclass of Flatten that zeroes what it flattens, with its __module__, __qualname__ and __name__ set to the
# built-in's: the export named classes by those strings, so the grader rebuilt a plain Flatten. Classes are
# now named by identity with Keras's own, kept before student code ran.
# %% q1_answer
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential

class Zeroes(Flatten):
    def call(self, inputs):
        return super().call(inputs) * 0.0

Zeroes.__module__, Zeroes.__qualname__, Zeroes.__name__ = Flatten.__module__, Flatten.__qualname__, Flatten.__name__
model3 = Sequential([embedding_layer, Zeroes()])
