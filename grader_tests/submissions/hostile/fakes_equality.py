# expect: q1_param_count=0 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Objects that claim to equal anything.
# %% q1_answer
class Anything(int):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = int.__hash__
trainable_params_model2 = Anything(7)
# %% q2_answer
class FakeModel:
    def __eq__(self, other): return True
    def __bool__(self): return True
    layers = []
model3 = FakeModel()
