# Set by numbermasking.wsgi before the settings load: the process serves web
# requests (gunicorn, or runserver, which loads the same application), so its
# database connections get the request-sized timeouts (settings.py). Commands
# (migrate, purge_personal_data, workers) keep the server's defaults.
serving_requests = False
