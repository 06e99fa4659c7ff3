from django.urls import path

from numbermasking.urls import urlpatterns as service_urlpatterns

from . import views

urlpatterns = [
    path("bench/ceiling/", views.ceiling),
    path("bench/floor/", views.floor),
    path("bench/floor-durable/", views.floor_durable),
    *service_urlpatterns,
]
