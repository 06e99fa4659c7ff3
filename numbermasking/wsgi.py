import os

from django.core.wsgi import get_wsgi_application

import numbermasking

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numbermasking.settings")

# Before get_wsgi_application() loads the settings (see numbermasking/__init__.py).
numbermasking.serving_requests = True

application = get_wsgi_application()
