# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# flag: none
# A right answer, plus 60 cells of its own that each print 1 MB: the notebook's output budget keeps the
# autograded notebook and its feedback small (the per-cell cap alone allowed 60 MB).
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([embedding_layer, Flatten()])
# %% after q2_follows_shared_weights
print('00' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('01' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('02' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('03' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('04' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('05' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('06' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('07' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('08' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('09' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('10' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('11' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('12' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('13' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('14' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('15' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('16' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('17' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('18' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('19' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('20' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('21' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('22' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('23' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('24' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('25' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('26' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('27' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('28' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('29' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('30' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('31' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('32' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('33' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('34' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('35' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('36' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('37' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('38' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('39' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('40' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('41' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('42' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('43' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('44' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('45' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('46' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('47' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('48' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('49' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('50' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('51' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('52' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('53' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('54' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('55' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('56' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('57' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('58' + 'y' * 999_000)
# %% after q2_follows_shared_weights
print('59' + 'y' * 999_000)
