"""Deploying the system under test: the site, its servers, the services they use, the
Python environments they run from, and the processes behind them."""
