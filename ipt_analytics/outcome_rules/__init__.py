"""Small, single-purpose outcome rules used by :func:`ipt_analytics.outcomes.episode_outcomes`.

- :mod:`.change`: response, partial response, remission, Jacobson-Truax RCI and categories;
- :mod:`.nhs_tt`: NHS Talking Therapies measures, stamped with their definition version;
- :mod:`.early_response`: early response / early non-response with cited presets;
- :mod:`.sudden_gains`: Tang & DeRubeis sudden gains and losses (Lutz 2013 adjustment);
- :mod:`.survival_times`: time to first response / remission with a censoring flag.
"""
