"""Floor 2's settings: files, environment and request parameters in, validated values out.

`fields` (the one way a setting is validated, each error naming its field path), `config`
(the engine's config file), `credentials` (scoped tokens) and `inputs` (the parameters of a
verdict or status request). Import the modules themselves; this package re-exports nothing.
"""
