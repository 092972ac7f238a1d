"""The app's pages, each run as a script by st.navigation (see ui/app.py); a package so installs ship them."""
