# Set by numbermasking.wsgi before the settings load: the process serves web
# requests under gunicorn, so its database connections get the request-sized
# statement and lock timeouts (settings.py). Commands (migrate,
# purge_personal_data, workers) keep the server's defaults; so does
# runserver, which reads the settings before it imports the WSGI module.
serving_requests = False
