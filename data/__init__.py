"The class tables `classes_<format>.csv`, shipped inside the package as `hpa_fastai.tables` (see pyproject.toml)"
